import iconv from "iconv-lite"

const charsetParameter = /charset\s*=\s*["']?([\w.:-]+)/i
const xmlDeclaration = /^<\?xml[^>]*\bencoding\s*=\s*["']([\w.:-]+)["']/i

/**
 * Bytes → text. A byte-order mark wins, then the Content-Type charset, then the XML declaration
 * (SEC's getcurrent feed declares ISO-8859-1), then UTF-8. An unknown label falls back to UTF-8
 * rather than failing the feed.
 */
export const decodeBody = (bytes: Uint8Array, contentType: string | null = null): string => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fromBom =
    buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf
      ? "utf-8"
      : buffer[0] === 0xfe && buffer[1] === 0xff
        ? "utf-16be"
        : buffer[0] === 0xff && buffer[1] === 0xfe
          ? "utf-16le"
          : null
  const fromHeader = contentType === null ? null : (charsetParameter.exec(contentType)?.[1] ?? null)
  const fromDeclaration = xmlDeclaration.exec(buffer.subarray(0, 256).toString("latin1"))?.[1] ?? null
  const label = [fromBom, fromHeader, fromDeclaration].find(
    (candidate): candidate is string => candidate !== null && iconv.encodingExists(candidate)
  )
  return iconv.decode(buffer, label ?? "utf-8", { stripBOM: true })
}
