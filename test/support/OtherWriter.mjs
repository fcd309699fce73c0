import Database from "better-sqlite3"
import { parentPort, workerData } from "node:worker_threads"

/**
 * A second SQLite connection to the seen store's file, on its own thread, so that its write locks really contend
 * with the store's. `workerData.signal` is a SharedArrayBuffer of two Int32 slots: [0] the test's "go", [1] how many
 * rounds this connection has committed. Round 0 takes the write lock, reports "locked", waits for the go, holds the
 * lock `firstHoldMs` longer and commits; the other rounds each hold it `holdMs`, back to back, 20 rows per round.
 */
const { file, rounds, firstHoldMs, holdMs, signal } = workerData
const flags = new Int32Array(signal)
const db = new Database(file)
db.pragma("busy_timeout = 5000")
const insert = db.prepare("INSERT INTO seen_items (id, source, seen_at) VALUES (?, 'other', ?)")
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

for (let round = 0; round < rounds; round++) {
  db.exec("BEGIN IMMEDIATE")
  for (let i = 0; i < 20; i++) insert.run(`other-r${round}-i${i}`, Date.now())
  if (round === 0) {
    parentPort.postMessage("locked")
    Atomics.wait(flags, 0, 0)
    pause(firstHoldMs)
  } else {
    pause(holdMs)
  }
  db.exec("COMMIT")
  Atomics.add(flags, 1, 1)
  pause(1)
}
db.close()
parentPort.postMessage("done")
