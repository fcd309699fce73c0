import { readFileSync } from "node:fs"

/** The package's version, from package.json (two levels up from both src/App and dist/App). */
export const version: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version
