import { Effect } from "effect"
import type { ClassifiedItem, NormalizedItem } from "./Domain.js"

/** Decides which items are catalysts, and of what kind. */
export class Classifier extends Effect.Service<Classifier>()("Classification/Classifier", {
  succeed: {
    classify: Effect.fn("Classifier.classify")(function* (items: ReadonlyArray<NormalizedItem>) {
      return items.map((item): ClassifiedItem => ({
        item,
        classification: {
          categories: [],
          score: 0,
          sentiment: 0,
          negative: false,
          matched: [],
          llm: { _tag: "Skipped", reason: "no classifier configured" }
        }
      }))
    })
  }
}) {}
