import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// Why a file of adversarial examples failed verification.
public enum AdversarialVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file holds no examples, so there is nothing to verify.
    case noExamples(path: String)
    /// Neither the caller nor the file's metadata gives the threat model to check against.
    case noThreatModel(path: String)
    /// The examples break the threat model or the file's claims are false.
    case failed(path: String, problems: [String])

    /// A sentence naming the problem and the fix.
    public var description: String {
        switch self {
        case let .noExamples(path):
            return "'\(path)' holds no examples; attack at least one with bulwark attack --count N."
        case let .noThreatModel(path):
            return "'\(path)' does not record its norm and ε; pass `norm` and `epsilon`."
        case let .failed(path, problems):
            return "'\(path)' failed verification: \(problems.joined(separator: "; "))."
        }
    }
}

/// What verification established about a file of adversarial examples.
public struct AdversarialExampleVerification: Sendable, Equatable {
    /// The number of examples.
    public var count: Int
    /// The threat model the perturbations were checked against.
    public var threatModel: ThreatModel
    /// The largest perturbation norm, measured from the dataset's own images.
    public var largestPerturbation: Float
    /// Examples the model classifies correctly clean.
    public var cleanCorrectCount: Int
    /// Examples the attack changed from correct to wrong.
    public var flippedCount: Int
}

extension AdversarialExampleFile {
    /// Checks the examples as a challenge harness would, trusting nothing the file says about
    /// itself except which dataset rows it attacked: every index is a row of `dataset`; `clean`
    /// and `labels` equal the dataset's rows; labels are classes `model` scores; adversarial
    /// inputs are finite, inside the threat model's bounds and within ε (+ `tolerance`) of the
    /// dataset's images; and the recorded predictions, success flags and clean mistakes equal
    /// the ones recomputed with `model`.
    ///
    /// - Parameters:
    ///   - path: the file's name, for messages.
    ///   - inputShape: the image shape `model` takes, `[channels, height, width]`.
    ///   - threatModel: the budget to check; `nil` for the one in the file's metadata.
    /// - Throws: ``AdversarialVerificationError``.
    public func verify<Model: Layer>(
        path: String, against model: Model, inputShape: [Int], dataset: ImageDataset, threatModel: ThreatModel? = nil,
        tolerance: Float = 1e-6, batchSize: Int = 256
    ) throws(AdversarialVerificationError) -> AdversarialExampleVerification {
        guard count > 0 else { throw .noExamples(path: path) }
        guard let threatModel = threatModel ?? self.threatModel else { throw .noThreatModel(path: path) }
        var problems = [String]()
        func positions(_ name: String, _ flags: [Bool]) {
            let wrong = flags.indices.filter { flags[$0] }
            guard let first = wrong.first else { return }
            problems.append("\(wrong.count) \(name) (first at position \(first))")
        }

        let imageShape = Array(clean.shape.dropFirst())
        guard imageShape == dataset.imageShape else {
            throw .failed(path: path, problems: ["its images have shape \(imageShape) but the dataset's have \(dataset.imageShape); pass the dataset the examples were made from"])
        }
        guard imageShape == inputShape else {
            throw .failed(path: path, problems: ["its images have shape \(imageShape) but the model takes \(inputShape); pass the model the examples were made against"])
        }
        positions("indices outside the dataset's \(dataset.count) rows", indices.map { !(0..<dataset.count).contains($0) })
        guard problems.isEmpty else { throw .failed(path: path, problems: problems) }

        let original = dataset.images.gathering(atIndices: indices, alongAxis: 0)
        let width = original.scalarCount / count
        let (originalValues, cleanValues) = (original.array, clean.array)
        positions("clean images differ from the dataset's rows", (0..<count).map { row in
            (row * width..<(row + 1) * width).contains { Swift.abs(originalValues[$0] - cleanValues[$0]) > tolerance || cleanValues[$0].isNaN }
        })
        let trueLabels = indices.map { Int(dataset.labels[$0]) }
        positions("labels differ from the dataset's", zip(labels, trueLabels).map { $0 != $1 })
        let classCount = outputClassCount(of: model, inputShape: imageShape)
        positions("labels are not classes of the model (whole numbers below \(classCount))", labels.map { !(0..<classCount).contains($0) })

        if !adversarial.isFinite { problems.append("adversarial inputs contain NaN or infinity") }
        let bounds = threatModel.bounds
        if adversarial.array.contains(where: { !bounds.contains($0) }) {
            problems.append("adversarial inputs leave [\(bounds.lowerBound), \(bounds.upperBound)]")
        }
        let largest = threatModel.norms(of: adversarial - original).max() ?? 0
        if !(largest <= threatModel.epsilon + tolerance) {
            problems.append("largest perturbation \(largest) exceeds ε = \(threatModel.epsilon) in \(threatModel.norm.rawValue)")
        }

        func predicted(_ inputs: Tensor) -> [Int] {
            var result = [Int]()
            let model = model.with(mode: .inference)
            for start in stride(from: 0, to: count, by: batchSize) {
                let batch = inputs.slice(alongAxis: 0, start..<Swift.min(start + batchSize, count))
                result += predictions(model.applied(to: batch)).map(Int.init)
            }
            return result
        }
        let actualClean = predicted(original)
        let actualAdversarial = adversarial.isFinite ? predicted(adversarial) : adversarialPredictions
        positions("claimed clean predictions differ from the model's", zip(actualClean, cleanPredictions).map { $0 != $1 })
        positions("claimed adversarial predictions differ from the model's", zip(actualAdversarial, adversarialPredictions).map { $0 != $1 })
        let cleanCorrect = (0..<count).map { actualClean[$0] == trueLabels[$0] }
        let fooled = (0..<count).map { actualAdversarial[$0] != trueLabels[$0] }
        let flipped = (0..<count).map { cleanCorrect[$0] && fooled[$0] }
        if let cleanMisclassified {
            positions("clean-misclassified flags are wrong", zip(cleanMisclassified, cleanCorrect).map { $0 == $1 })
            positions("success flags are wrong (success: the attack changed a correct prediction to a wrong one)",
                      zip(success, flipped).map { $0 != $1 })
        } else {
            // Files without clean_misclassified flag every misclassified adversarial input.
            positions("success flags are wrong", zip(success, fooled).map { $0 != $1 })
        }
        guard problems.isEmpty else { throw .failed(path: path, problems: problems) }
        return AdversarialExampleVerification(
            count: count, threatModel: threatModel, largestPerturbation: largest,
            cleanCorrectCount: cleanCorrect.filter { $0 }.count, flippedCount: flipped.filter { $0 }.count)
    }
}
