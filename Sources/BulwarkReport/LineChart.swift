import Foundation

/// A line chart drawn as standalone SVG: axes with nice ticks and grid lines, axis labels, a
/// title, one polyline with point markers per series, and a legend below the plot.
///
/// Each series becomes `<polyline data-series="NAME" points="…">` with one coordinate pair
/// per finite point (non-finite values are left out), so tools and tests can read the data
/// back. Sizes are in CSS pixels and fonts at least 12 px, readable when printed at the
/// chart's width.
public struct LineChart: Sendable {
    /// One line.
    public struct Series: Sendable {
        /// The legend text.
        public var name: String
        /// (x, y) pairs in data units, drawn in order.
        public var points: [(x: Double, y: Double)]
        /// A CSS colour; `nil` takes the next colour of the palette.
        public var color: String?
        /// Draws the line dashed (a comparison run, for example).
        public var dashed: Bool
        /// The stroke width in pixels; a wide line drawn first stays visible under thinner
        /// ones with the same values.
        public var lineWidth: Double

        /// Creates a series.
        public init(name: String, points: [(x: Double, y: Double)], color: String? = nil, dashed: Bool = false, lineWidth: Double = 2.2) {
            self.name = name
            self.points = points
            self.color = color
            self.dashed = dashed
            self.lineWidth = lineWidth
        }
    }

    /// How the y axis labels its ticks.
    public enum ValueFormat: Sendable {
        /// Plain numbers.
        case number
        /// Fractions shown as percentages (0.5 → 50%).
        case percent
    }

    /// The Okabe–Ito palette, distinguishable with the common colour-vision deficiencies
    /// (yellow left out: too pale on white).
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

    /// An identifier written as `data-chart`, for tests and styling.
    public var identifier: String
    /// The title above the plot.
    public var title: String
    /// The x axis label.
    public var xLabel: String
    /// The y axis label.
    public var yLabel: String
    /// The lines.
    public var series: [Series]
    /// How y ticks read.
    public var valueFormat: ValueFormat
    /// A fixed y range (0…1 for accuracies against ε), or `nil` to fit the data.
    public var yRange: ClosedRange<Double>?
    /// Whether x ticks must be whole numbers (epochs).
    public var integralX: Bool
    /// The width in pixels.
    public var width: Double
    /// The height of the plot area plus axes, without the legend.
    public var height: Double

    /// Creates a chart.
    public init(
        identifier: String, title: String, xLabel: String, yLabel: String, series: [Series],
        valueFormat: ValueFormat = .number, yRange: ClosedRange<Double>? = nil, integralX: Bool = false,
        width: Double = 430, height: Double = 290
    ) {
        self.identifier = identifier
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.valueFormat = valueFormat
        self.yRange = yRange
        self.integralX = integralX
        self.width = width
        self.height = height
    }

    /// The chart as an `<svg>` element (with its namespace, so it is valid inline in XHTML and
    /// as a file of its own).
    public func svg() -> String {
        let marginLeft = 64.0, marginRight = 18.0, marginTop = 34.0, marginBottom = 50.0
        let plotWidth = width - marginLeft - marginRight
        let plotHeight = height - marginTop - marginBottom
        let allX = series.flatMap { $0.points.map(\.x) }
        let allY = series.flatMap { $0.points.map(\.y) }
        let xScale = AxisScale(covering: allX, targetTickCount: 7, integral: integralX)
        let yScale = yRange.map { AxisScale(from: $0.lowerBound, to: $0.upperBound) } ?? AxisScale(covering: allY)
        func xPosition(_ x: Double) -> Double { marginLeft + (x - xScale.lower) / (xScale.upper - xScale.lower) * plotWidth }
        func yPosition(_ y: Double) -> Double { marginTop + (1 - (y - yScale.lower) / (yScale.upper - yScale.lower)) * plotHeight }

        // The legend wraps into rows below the x axis label.
        let legendItems = series.enumerated().map { index, series in
            (series, series.color ?? Self.palette[index % Self.palette.count], 34 + Double(series.name.count) * 7.2)
        }
        var legendRows = [[(Series, String, Double)]]()
        var rowWidth = 0.0
        for item in legendItems {
            if legendRows.isEmpty || rowWidth + item.2 > width - 20 {
                legendRows.append([])
                rowWidth = 0
            }
            legendRows[legendRows.count - 1].append(item)
            rowWidth += item.2
        }
        let totalHeight = height + Double(legendRows.count) * 20 + 6

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="\(escapeMarkup(identifier))" \
            width="\(coordinate(width))" height="\(coordinate(totalHeight))" viewBox="0 0 \(coordinate(width)) \(coordinate(totalHeight))" \
            role="img" aria-label="\(escapeMarkup(title))" font-family="Helvetica, Arial, sans-serif" font-size="12">\n
            """
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        svg += "<text x=\"\(coordinate(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">\(escapeMarkup(title))</text>\n"

        // Grid and ticks.
        for tick in yScale.ticks {
            let y = coordinate(yPosition(tick))
            svg += "<line x1=\"\(coordinate(marginLeft))\" y1=\"\(y)\" x2=\"\(coordinate(marginLeft + plotWidth))\" y2=\"\(y)\" stroke=\"#e3e3e3\"/>\n"
            svg += "<text x=\"\(coordinate(marginLeft - 6))\" y=\"\(y)\" dy=\"4\" text-anchor=\"end\" fill=\"#333333\">\(escapeMarkup(yScale.label(tick, asPercent: valueFormat == .percent)))</text>\n"
        }
        for tick in xScale.ticks {
            let x = coordinate(xPosition(tick))
            svg += "<line x1=\"\(x)\" y1=\"\(coordinate(marginTop))\" x2=\"\(x)\" y2=\"\(coordinate(marginTop + plotHeight))\" stroke=\"#f0f0f0\"/>\n"
            svg += "<line x1=\"\(x)\" y1=\"\(coordinate(marginTop + plotHeight))\" x2=\"\(x)\" y2=\"\(coordinate(marginTop + plotHeight + 5))\" stroke=\"#333333\"/>\n"
            svg += "<text x=\"\(x)\" y=\"\(coordinate(marginTop + plotHeight + 18))\" text-anchor=\"middle\" fill=\"#333333\">\(escapeMarkup(xScale.label(tick)))</text>\n"
        }
        // Axes.
        svg += "<path d=\"M\(coordinate(marginLeft)) \(coordinate(marginTop)) V\(coordinate(marginTop + plotHeight)) H\(coordinate(marginLeft + plotWidth))\" fill=\"none\" stroke=\"#333333\"/>\n"
        svg += "<text x=\"\(coordinate(marginLeft + plotWidth / 2))\" y=\"\(coordinate(marginTop + plotHeight + 38))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">\(escapeMarkup(xLabel))</text>\n"
        let yLabelX = 16.0, yLabelY = marginTop + plotHeight / 2
        svg += "<text x=\"\(coordinate(yLabelX))\" y=\"\(coordinate(yLabelY))\" transform=\"rotate(-90 \(coordinate(yLabelX)) \(coordinate(yLabelY)))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">\(escapeMarkup(yLabel))</text>\n"

        // Lines and markers.
        for (index, line) in series.enumerated() {
            let color = line.color ?? Self.palette[index % Self.palette.count]
            let finite = line.points.filter { $0.x.isFinite && $0.y.isFinite }
            let points = finite.map { "\(coordinate(xPosition($0.x))),\(coordinate(yPosition($0.y)))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"7 4\"" : ""
            svg += "<g data-series-group=\"\(escapeMarkup(line.name))\">\n"
            svg += "<polyline data-series=\"\(escapeMarkup(line.name))\" points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(coordinate(line.lineWidth))\" stroke-linejoin=\"round\"\(dash)/>\n"
            for point in finite {
                let value = valueFormat == .percent ? String(format: "%.2f%%", point.y * 100) : String(format: "%.4g", point.y)
                svg += "<circle cx=\"\(coordinate(xPosition(point.x)))\" cy=\"\(coordinate(yPosition(point.y)))\" r=\"3\" fill=\"\(line.dashed ? "#ffffff" : color)\" stroke=\"\(color)\" stroke-width=\"1.5\"><title>\(escapeMarkup(line.name)): \(escapeMarkup(String(format: "%.4g", point.x))) → \(escapeMarkup(value))</title></circle>\n"
            }
            svg += "</g>\n"
        }

        // Legend.
        for (row, items) in legendRows.enumerated() {
            let rowWidth = items.map(\.2).reduce(0, +)
            var x = (width - rowWidth) / 2
            let y = height + 8 + Double(row) * 20
            for (line, color, itemWidth) in items {
                let dash = line.dashed ? " stroke-dasharray=\"7 4\"" : ""
                svg += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(y))\" x2=\"\(coordinate(x + 24))\" y2=\"\(coordinate(y))\" stroke=\"\(color)\" stroke-width=\"\(coordinate(Swift.max(line.lineWidth, 2.5)))\"\(dash)/>\n"
                svg += "<text x=\"\(coordinate(x + 29))\" y=\"\(coordinate(y + 4))\" fill=\"#222222\">\(escapeMarkup(line.name))</text>\n"
                x += itemWidth
            }
        }
        if series.allSatisfy({ $0.points.isEmpty }) {
            svg += "<text x=\"\(coordinate(marginLeft + plotWidth / 2))\" y=\"\(coordinate(marginTop + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888888\">no data</text>\n"
        }
        svg += "</svg>"
        return svg
    }
}
