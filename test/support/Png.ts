import { PNG } from "pngjs"

export interface Rgb {
  readonly r: number
  readonly g: number
  readonly b: number
}

export const rgb = (hex: string): Rgb => ({
  r: parseInt(hex.slice(1, 3), 16),
  g: parseInt(hex.slice(3, 5), 16),
  b: parseInt(hex.slice(5, 7), 16)
})

export interface Region {
  readonly x0: number
  readonly y0: number
  readonly x1: number
  readonly y1: number
}

export const decodePng = (bytes: Uint8Array) => PNG.sync.read(Buffer.from(bytes))

/** Pixels in `region` whose every channel is within `tolerance` of `colour`. */
export const countNear = (png: PNG, colour: Rgb, region: Region, tolerance = 12): number => {
  let count = 0
  for (let y = region.y0; y < Math.min(region.y1, png.height); y++) {
    for (let x = region.x0; x < Math.min(region.x1, png.width); x++) {
      const i = (y * png.width + x) * 4
      if (
        Math.abs(png.data[i]! - colour.r) <= tolerance &&
        Math.abs(png.data[i + 1]! - colour.g) <= tolerance &&
        Math.abs(png.data[i + 2]! - colour.b) <= tolerance
      )
        count++
    }
  }
  return count
}

/** Share of pixels whose largest channel difference exceeds `threshold` (images must have the same size). */
export const differingShare = (a: PNG, b: PNG, threshold = 32): number => {
  if (a.width !== b.width || a.height !== b.height) return 1
  let differing = 0
  for (let i = 0; i < a.data.length; i += 4) {
    const diff = Math.max(
      Math.abs(a.data[i]! - b.data[i]!),
      Math.abs(a.data[i + 1]! - b.data[i + 1]!),
      Math.abs(a.data[i + 2]! - b.data[i + 2]!)
    )
    if (diff > threshold) differing++
  }
  return differing / (a.width * a.height)
}
