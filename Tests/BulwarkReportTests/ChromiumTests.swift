import BulwarkReport
import Foundation
import Testing

/// Renders a report in headless Chromium and checks the screenshot is not blank.
@Suite struct ChromiumTests {
    /// Chromium or Chrome on the PATH, if installed.
    static let browser: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }()

    @Test(.enabled(if: browser != nil, "Chromium is not installed: apt-get install chromium (scripts/install-dependencies.sh installs it) to render the report headlessly"),
          .timeLimit(.minutes(1)))
    func reportRendersInHeadlessChromium() throws {
        let browser = try #require(Self.browser)
        let fixture = try RunFixture(epochs: 5, examples: 12)
        defer { fixture.remove() }
        let html = fixture.url("report.html")
        try RunReport(run: try RunRecord(directory: fixture.directory)).write(to: html.path)
        let screenshot = fixture.url("screenshot.png")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: browser)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=" + fixture.url("chromium-profile").path,
            "--window-size=1400,2000", "--screenshot=" + screenshot.path, html.absoluteString,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let image = try ReferencePNGDecoder([UInt8](try Data(contentsOf: screenshot)))
        #expect(image.width == 1400 && image.height == 2000)

        // Not blank: many pixels are not white, in many colours, including the chart's first
        // palette colour (#0072B2, a drawn line) and the perturbation map's dark red.
        let channels = image.channels
        var nonWhite = 0
        var colors = Set<UInt32>()
        var chartBlue = 0, mapRed = 0
        for pixel in stride(from: 0, to: image.pixels.count, by: channels) {
            let (red, green, blue) = (image.pixels[pixel], image.pixels[pixel + 1], image.pixels[pixel + 2])
            if red < 240 || green < 240 || blue < 240 { nonWhite += 1 }
            colors.insert(UInt32(red) << 16 | UInt32(green) << 8 | UInt32(blue))
            if abs(Int(red) - 0x00) < 20 && abs(Int(green) - 0x72) < 20 && abs(Int(blue) - 0xB2) < 20 { chartBlue += 1 }
            if abs(Int(red) - 0x67) < 25 && Int(green) < 30 && abs(Int(blue) - 0x1F) < 25 { mapRed += 1 }
        }
        let total = image.width * image.height
        #expect(Double(nonWhite) / Double(total) > 0.03, "only \(nonWhite) of \(total) pixels are not white")
        #expect(colors.count > 100)
        #expect(chartBlue > 200, "the charts' lines are missing")
        #expect(mapRed > 200, "the perturbation images are missing")
    }
}
