import { Resvg } from "@resvg/resvg-js"
import * as echarts from "echarts"
import { createRequire } from "node:module"
import type { GroupStats } from "./Stats.js"

/**
 * The report's one chart: hit rate by category, as a PNG. ECharts renders SVG server-side and resvg
 * rasterises it. The font is loaded from a file so labels render on a machine with no system fonts.
 */
const fontFile = createRequire(import.meta.url).resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf")
const fontFamily = "DejaVu Sans"

export const renderHitRateChart = (rows: ReadonlyArray<GroupStats>, title: string): Uint8Array => {
  const charted = rows.filter((row) => row.hitRate !== null)
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: 800, height: 450 })
  try {
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      textStyle: { fontFamily },
      title: { text: title, left: "center", textStyle: { fontFamily, fontSize: 16 } },
      grid: { left: 60, right: 30, top: 60, bottom: 90 },
      xAxis: {
        type: "category",
        data: charted.map((row) => `${row.key} (${row.tracked})`),
        axisLabel: { rotate: charted.length > 6 ? 30 : 0, interval: 0, fontFamily }
      },
      yAxis: { type: "value", min: 0, max: 100, name: "hit rate %", axisLabel: { formatter: "{value}%", fontFamily } },
      series: [
        {
          type: "bar",
          data: charted.map((row) => Math.round((row.hitRate ?? 0) * 1000) / 10),
          itemStyle: { color: "#2f7ed8" },
          label: { show: true, position: "top", formatter: "{c}%", fontFamily }
        }
      ]
    })
    const svg = chart.renderToSVGString()
    return new Resvg(svg, {
      background: "#ffffff",
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: fontFamily }
    })
      .render()
      .asPng()
  } finally {
    chart.dispose()
  }
}
