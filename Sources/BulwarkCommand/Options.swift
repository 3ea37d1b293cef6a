import ArgumentParser
import Bulwark
import Foundation

/// A number that may be written as a fraction (`8/255`), as users think of pixel budgets.
struct Fraction: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var value: Float

    init(_ value: Float) { self.value = value }

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let value = Float(argument), value.isFinite else { return nil }
            self.value = value
        case 2:
            guard let numerator = Float(parts[0]), let denominator = Float(parts[1]), denominator != 0 else { return nil }
            value = numerator / denominator
        default:
            return nil
        }
    }

    var description: String { String(value) }
}

extension ImageDatasetName: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension Norm: ExpressibleByArgument {}
extension DatasetSplit: ExpressibleByArgument {}
extension EvaluationStrategy: ExpressibleByArgument {}

/// Where the images come from.
struct DatasetOptions: ParsableArguments {
    @Option(help: "The dataset: fashion-mnist, mnist or idx (any IDX files in --data-dir).")
    var dataset: ImageDatasetName = .fashionMNIST

    @Option(help: ArgumentHelp(
        "The directory holding the IDX files (train-images-idx3-ubyte[.gz] and so on).",
        discussion: "Fashion-MNIST defaults to /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)."))
    var dataDir: String?

    func load(_ split: DatasetSplit) throws -> ImageDataset {
        try ImageDataset.load(dataset, split: split, directory: dataDir)
    }
}

/// The threat model shared by training and evaluation.
struct ThreatOptions: ParsableArguments {
    @Option(help: "The perturbation budget ε, in pixel units of [0, 1]; fractions such as 8/255 are accepted.")
    var epsilon: Fraction = Fraction(0.1)

    @Option(help: "The norm of the budget: linf or l2.")
    var norm: Norm = .lInfinity

    var threatModel: ThreatModel { ThreatModel(norm: norm, epsilon: epsilon.value) }
}

/// Rejects values outside a range with a message naming the option.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ValidationError(message()) }
}
