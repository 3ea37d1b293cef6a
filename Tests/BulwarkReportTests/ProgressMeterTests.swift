import BulwarkReport
import Testing

@Suite struct ProgressMeterTests {
    @Test func pipedLinesAreThrottledAndTheLastOneAlwaysShows() {
        var meter = ProgressMeter(interactive: false, pipedInterval: 3600)
        meter.begin("pgd", total: 10, unit: "images")
        let first = meter.report(done: 1, total: 10, unit: "images", detail: "", finished: false)
        #expect(first?.hasPrefix("pgd 1/10 ") == true && first?.hasSuffix("\n") == true)
        #expect(meter.report(done: 2, total: 10, unit: "images", detail: "", finished: false) == nil, "within the interval")
        let last = meter.report(done: 10, total: 10, unit: "images", detail: "loss 0.5", finished: true)
        #expect(last?.contains("pgd 10/10 ") == true && last?.hasSuffix("  loss 0.5\n") == true)
        #expect(meter.last.done == 10 && meter.last.unit == "images")
    }

    @Test func aLiveBarIsClosedBeforeALine() {
        var meter = ProgressMeter(interactive: true, pipedInterval: 10)
        meter.begin("clean", total: 4)
        let bar = meter.report(done: 2, total: 4, unit: "images", detail: "", finished: false)
        #expect(bar?.hasPrefix("\r\u{1B}[K[████████████············] clean 2/4 ") == true, "\(bar ?? "")")
        #expect(meter.line("done") == "\ndone\n")
        #expect(meter.line("again") == "again\n")
        #expect(ProgressMeter.duration(3725) == "1:02:05" && ProgressMeter.duration(65) == "1:05" && ProgressMeter.duration(.infinity) == "?")
    }
}
