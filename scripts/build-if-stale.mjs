/**
 * Run by `npm start` (scripts/start.mjs) before the bot, or on its own: compiles src/ into dist/ (`tsc -p tsconfig.build.json`) only when something the build reads
 * has changed since the last successful build, so that a start with nothing changed does not wait for tsc.
 * "Changed" is a digest of the contents of src/, the tsconfigs and package.json, kept in dist/ beside the output;
 * contents rather than mtimes, so a checkout or a copy that keeps old timestamps is still noticed.
 * Runs in the package root (npm runs scripts there).
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, relative } from "node:path"
import process from "node:process"

const root = process.cwd()
const stampFile = join(root, "dist", ".build-digest")
const inputs = ["package.json", "tsconfig.json", "tsconfig.build.json"]

const filesUnder = (dir) =>
  readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort()

const digest = () => {
  const hash = createHash("sha256")
  for (const file of [...inputs.map((name) => join(root, name)), ...filesUnder(join(root, "src"))]) {
    hash.update(relative(root, file)).update("\0")
    hash.update(existsSync(file) ? readFileSync(file) : "(missing)").update("\0")
  }
  return hash.digest("hex")
}

const current = digest()
const built = existsSync(stampFile) ? readFileSync(stampFile, "utf8").trim() : null
if (built === current && existsSync(join(root, "dist", "main.js"))) {
  process.stderr.write("dist/ is up to date with src/; not compiling\n")
} else {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" })
  if (run.status !== 0) process.exit(run.status ?? 1)
  writeFileSync(stampFile, current + "\n")
}
