// Module hooks (https://nodejs.org/api/module.html#customization-hooks) that append the URL of every module
// loaded to the file in MODULE_LOG, for tests of what a command loads. Registered by ModuleLogPreload.mjs.
import { appendFileSync } from "node:fs"
import process from "node:process"

export async function load(url, context, nextLoad) {
  const log = process.env.MODULE_LOG
  if (log !== undefined && log !== "") appendFileSync(log, `${url}\n`)
  return nextLoad(url, context)
}
