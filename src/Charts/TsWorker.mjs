// Runs a TypeScript worker entry (under vitest or tsx): Node 20 does not apply `--import tsx` from a worker's
// execArgv to the worker's own entry module, so the worker registers tsx itself, then imports the entry.
import { register } from "tsx/esm/api"
import { workerData } from "node:worker_threads"

register()
await import(workerData.entry)
