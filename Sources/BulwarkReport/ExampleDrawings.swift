import BulwarkCore
import BulwarkTraining
import Foundation

/// Every example of a file of adversarial examples drawn for people: one triptych PNG per
/// example (`example-007.png`: original, perturbation, adversarial, enlarged four times), a
/// grid of the first 100 (`grid.png`) and a CSV of labels, predictions, confidences and
/// perturbation norms (`examples.csv`).
public struct ExampleDrawings: Sendable {
    /// File names and their bytes, in writing order: the triptychs, `grid.png`, `examples.csv`.
    public var files: [(name: String, bytes: [UInt8])]
    /// The perturbation that the colour map's ends stand for, shared by every image.
    public var perturbationScale: Float

    /// The CSV's columns.
    public static let csvHeader = ["index", "true_label", "clean_prediction", "clean_confidence", "adversarial_prediction",
                                   "adversarial_confidence", "fooled", "perturbation_norm", "file"]

    /// Draws every example of `file`.
    ///
    /// - Throws: what ``ExampleGrid/init(file:positions:)`` or PNG encoding throws.
    public init(file: AdversarialExampleFile) throws(PNGError) {
        let grid = try ExampleGrid(file: file, positions: Array(0..<file.count))
        let digits = String(file.count - 1).count
        files = []
        var csv = Self.csvHeader.joined(separator: ",") + "\n"
        for triptych in grid.triptychs {
            let number = String(triptych.datasetIndex)
            let name = "example-" + String(repeating: "0", count: Swift.max(0, digits - number.count)) + number + ".png"
            files.append((name, try triptych.combined(scale: 4, gap: 4).encoded()))
            let confidence = { (value: Float?) in value.map { String(format: "%.4f", $0) } ?? "" }
            let fields = [number, triptych.trueLabel, triptych.cleanPrediction, confidence(triptych.cleanConfidence),
                          triptych.adversarialPrediction, confidence(triptych.adversarialConfidence),
                          triptych.fooled ? "1" : "0", String(format: "%.6f", triptych.perturbationNorm), name]
            csv += fields.map(Self.csvField).joined(separator: ",") + "\n"
        }
        var first = grid
        first.triptychs = Array(grid.triptychs.prefix(100))
        files.append(("grid.png", try first.image(columns: 4, scale: 3).encoded()))
        files.append(("examples.csv", Array(csv.utf8)))
        perturbationScale = grid.perturbationScale
    }

    /// Draws every example of `file` into `directory`, created when missing, and returns the
    /// line that says what it drew.
    ///
    /// - Throws: ``PNGError`` when the examples cannot be drawn; the errors of creating the
    ///   directory and of ``OutputFile/write(_:to:)-([UInt8],_)``.
    public static func write(_ file: AdversarialExampleFile, into directory: String) throws -> String {
        try createDirectory(directory)
        let drawings = try ExampleDrawings(file: file)
        for (name, bytes) in drawings.files { try OutputFile.write(bytes, to: path(in: directory, name)) }
        return "drew \(file.count) examples into \(directory) (grid.png, example-*.png, examples.csv); perturbation colours span ±\(String(format: "%.4g", drawings.perturbationScale))"
    }

    /// `field` quoted as RFC 4180 asks when it holds a comma or a quote.
    private static func csvField(_ field: String) -> String {
        field.contains(",") || field.contains("\"") ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}
