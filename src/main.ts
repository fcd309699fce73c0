#!/usr/bin/env node
import { version } from "./App/Version.js"

// `--version` is answered before the CLI's module graph (Effect, the platform, every command) is loaded.
if (process.argv.length === 3 && process.argv[2] === "--version") console.log(version)
else await import("./App/Main.js")
