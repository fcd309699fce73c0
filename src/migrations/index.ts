import core from "./00001_core.js"
import feeds from "./00010_feeds.js"

export const migrations = {
  "00001_core": core,
  "00010_feeds": feeds
}
