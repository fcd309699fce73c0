// `--import` this (e.g. through NODE_OPTIONS) to log every module a process loads to MODULE_LOG.
import { register } from "node:module"

register("./ModuleLogHooks.mjs", import.meta.url)
