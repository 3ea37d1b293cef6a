import BulwarkReport
import Foundation
import Testing

@Suite struct ChartTests {
    @Test func nicelyRoundedTicks() {
        let accuracy = AxisScale(covering: [0.0, 1.0])
        #expect(accuracy.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1.0].map { $0 })
        let loss = AxisScale(covering: [1.03, 1.96])
        #expect(loss.lower == 1.0 && loss.upper == 2.0 && loss.step == 0.2)
        // Float data read as Double must not push the axis to the next tick.
        let epsilons = AxisScale(covering: [0, Double(Float(0.2))], targetTickCount: 7)
        #expect(epsilons.upper == 0.2 && epsilons.step == 0.05)
        let epochs = AxisScale(covering: [1, 2, 3], targetTickCount: 7, integral: true)
        #expect(epochs.ticks == [1, 2, 3])
        let constant = AxisScale(covering: [0.5, 0.5])
        #expect(constant.lower < 0.5 && constant.upper > 0.5)
    }

    @Test func tickLabels() {
        let rates = AxisScale(covering: [0, 0.0008])
        #expect(rates.ticks.map { rates.label($0) } == ["0", "2e-4", "4e-4", "6e-4", "8e-4"])
        let accuracy = AxisScale(from: 0, to: 1)
        #expect(accuracy.label(0.6, asPercent: true) == "60%")
        #expect(AxisScale(covering: [1.0, 2.0]).label(1.2) == "1.2")
    }

    @Test func divergingColorMapRunsBlueWhiteRed() {
        let map = DivergingColorMap()
        let negative = map.color(-1), zero = map.color(0), positive = map.color(1)
        #expect(negative.blue > negative.red && positive.red > positive.blue)
        #expect(zero == (0xF7, 0xF7, 0xF7))
        #expect(map.color(5) == positive && map.color(.nan) == zero)
        #expect(map.hexColor(0) == "#f7f7f7")
    }

    @Test func svgHasOnePolylinePerSeriesWithOnePointPerFiniteValue() throws {
        let chart = LineChart(
            identifier: "test", title: "A <title> & more", xLabel: "epoch", yLabel: "loss",
            series: [
                .init(name: "a", points: [(1, 0.5), (2, 0.25), (3, 0.125)]),
                .init(name: "b", points: [(1, 1), (2, .nan), (3, 0.5)], dashed: true),
            ])
        let svg = chart.svg()
        let series = try XMLOutline(svg).series(ofChart: "test")
        #expect(series.map(\.name) == ["a", "b"])
        #expect(series.map(\.points) == [3, 2])
        #expect(series.map(\.dashed) == [false, true])
        #expect(svg.contains("A &lt;title&gt; &amp; more"))
    }

    @Test func absurdValuesAreDrawnWithoutTrapping() throws {
        let chart = LineChart(identifier: "absurd", title: "diverged", xLabel: "epoch", yLabel: "loss",
                              series: [.init(name: "loss", points: [(1, 1), (2, 1.7e308), (3, -1.7e308), (4, .infinity)])])
        let series = try XMLOutline(chart.svg()).series(ofChart: "absurd")
        #expect(series.map(\.points) == [3])
        let empty = LineChart(identifier: "empty", title: "nothing", xLabel: "x", yLabel: "y", series: [])
        #expect(try XMLOutline(empty.svg()).text.contains("no data"))
    }
}
