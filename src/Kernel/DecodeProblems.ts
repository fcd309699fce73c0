import { Either, ParseResult } from "effect"

const render = (path: ReadonlyArray<PropertyKey>): string =>
  path
    .map((key, index) => (typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`))
    .join("")

const at = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>(
    (value, key) =>
      typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    input
  )

const expectedActual = /^Expected (.+), actual (.+)$/s

/**
 * A union reports one issue per member at the same path (`Expected "rss"`, `Expected "atom"`, …,
 * and `Expected undefined` for an optional field): they read as one, `Expected "rss" | "atom"`.
 */
const merge = (messages: ReadonlyArray<string>): string => {
  const parsed = messages.map((message) => expectedActual.exec(message))
  const actual = parsed[0]?.[2]
  if (parsed.length > 1 && parsed.every((match) => match !== null && match[2] === actual)) {
    const expected = Array.from(new Set(parsed.map((match) => match![1]!))).filter((type) => type !== "undefined")
    return `Expected ${expected.join(" | ")}, actual ${actual}`
  }
  return Array.from(new Set(messages)).join("; ")
}

/**
 * One line per problem of a JSON file decoded with `{ errors: "all" }`, naming the entry (its
 * index, and its `name` when it has one) and the field, instead of Schema's tree:
 * `[2] "PR Newswire", field kind: Expected "rss" | "atom" | "sec-atom", actual "xml"`.
 */
export const describeProblems = (error: ParseResult.ParseError, input: unknown): ReadonlyArray<string> => {
  const byPath = new Map<string, { readonly path: ReadonlyArray<PropertyKey>; readonly messages: Array<string> }>()
  for (const { path, message } of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const key = render(path)
    const known = byPath.get(key)
    if (known === undefined) byPath.set(key, { path, messages: [message] })
    else known.messages.push(message)
  }
  return Array.from(byPath.values(), ({ path, messages }) => {
    const message = merge(messages)
    const entryEnd = path.findIndex((key) => typeof key === "number") + 1
    const entryPath = path.slice(0, entryEnd)
    const field = render(path.slice(entryEnd))
    if (entryEnd === 0) return field === "" ? message : `field ${field}: ${message}`
    const name = at(input, [...entryPath, "name"])
    const entry = `${render(entryPath)}${typeof name === "string" && name.trim() !== "" ? ` ${JSON.stringify(name)}` : ""}`
    return field === "" ? `${entry}: ${message}` : `${entry}, field ${field}: ${message}`
  })
}

/** A JSON file's text through `decode`: either its value, or one line per problem, each naming the file. */
export const decodeJsonFile = <A>(
  path: string,
  text: string,
  decode: (input: unknown) => Either.Either<A, ParseResult.ParseError>
): Either.Either<A, ReadonlyArray<string>> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left([`${path}: not valid JSON: ${(error as Error).message}`])
  }
  return Either.mapLeft(decode(json), (error) => describeProblems(error, json).map((line) => `${path}: ${line}`))
}
