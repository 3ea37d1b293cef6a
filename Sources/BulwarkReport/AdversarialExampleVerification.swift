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
            return "'\(path)' does not record its norm and ε; pass --norm and --epsilon."
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

/// Why a `.npy` file could not be read.
struct NumPyReadError: Error {
    var reason: String
}

extension NumPyArray {
    /// The array in the bytes of a `.npy` file (versions 1 to 3; little-endian float32,
    /// float64, int64, int32 or uint8, C order) as a float tensor.
    static func tensor(fromBytes bytes: [UInt8]) throws(NumPyReadError) -> Tensor {
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw NumPyReadError(reason: "it is not a NumPy .npy file")
        }
        let major = bytes[6]
        let lengthSize = major == 1 ? 2 : 4
        guard (1...3).contains(major), bytes.count >= 8 + lengthSize else { throw NumPyReadError(reason: "unsupported .npy version \(major)") }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let dataStart = 8 + lengthSize + headerLength
        guard bytes.count >= dataStart else { throw NumPyReadError(reason: "the header is cut short") }
        let header = String(decoding: bytes[(8 + lengthSize)..<dataStart], as: UTF8.self)
        func value(of key: String) -> Substring? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return header[range.upperBound...].drop { $0 == " " }
        }
        guard let descriptorText = value(of: "descr"), let shapeText = value(of: "shape"),
              let descriptor = descriptorText.dropFirst().split(separator: "'").first,
              let closing = shapeText.firstIndex(of: ")")
        else { throw NumPyReadError(reason: "the header lacks 'descr' or 'shape'") }
        if value(of: "fortran_order")?.hasPrefix("True") == true { throw NumPyReadError(reason: "Fortran-order arrays are not supported") }
        var shape = [Int]()
        for part in shapeText.dropFirst()[..<closing].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let extent = Int(trimmed), extent >= 0 else { throw NumPyReadError(reason: "the shape \(shapeText[...closing]) is not a tuple of sizes") }
            shape.append(extent)
        }
        // A crafted header may declare sizes whose product overflows: refuse it rather than trap.
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= bytes.count else {
                throw NumPyReadError(reason: "the shape \(shape) declares more values than the file's \(bytes.count) bytes hold")
            }
            count = product
        }
        let size: Int
        let convert: (ArraySlice<UInt8>) -> Float
        func word(_ slice: ArraySlice<UInt8>) -> UInt64 { slice.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        switch descriptor {
        case "<f4": size = 4; convert = { Float(bitPattern: UInt32(word($0))) }
        case "<f8": size = 8; convert = { Float(Double(bitPattern: word($0))) }
        case "<i8": size = 8; convert = { Float(Int64(bitPattern: word($0))) }
        case "<i4": size = 4; convert = { Float(Int32(bitPattern: UInt32(word($0)))) }
        case "|u1", "<u1": size = 1; convert = { Float($0.first ?? 0) }
        default: throw NumPyReadError(reason: "dtype '\(descriptor)' is not one Bulwark reads (<f4, <f8, <i8, <i4, |u1)")
        }
        guard bytes.count - dataStart == count * size else {
            throw NumPyReadError(reason: "it holds \(bytes.count - dataStart) bytes of data, but shape \(shape) of \(descriptor) needs \(count * size)")
        }
        let scalars = (0..<count).map { convert(bytes[(dataStart + $0 * size)..<(dataStart + ($0 + 1) * size)]) }
        return Tensor(shape: shape, scalars: scalars)
    }
}
