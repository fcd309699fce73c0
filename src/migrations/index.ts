import core from "./00001_core.js"

export const migrations = {
  "00001_core": core
}
