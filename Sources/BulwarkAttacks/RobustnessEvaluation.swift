import BulwarkCore
import BulwarkNN
import Foundation

/// What one attack achieved over an evaluation set.
public struct AttackResult: Sendable, Codable, Equatable {
    /// The attack's name.
    public var name: String
    /// The fraction of examples classified correctly both clean and under this attack.
    public var robustAccuracy: Float
    /// The largest perturbation norm (in the threat model's norm) over all examples.
    public var maximumPerturbationNorm: Float
    /// Wall-clock seconds spent attacking.
    public var seconds: Double
    /// Per example: whether the prediction under attack was still correct.
    public var robust: [Bool]
}

/// Clean and robust accuracy of a model over a set of examples.
public struct RobustnessReport: Sendable, Codable, Equatable {
    /// The number of examples evaluated.
    public var count: Int
    /// The threat model the attacks used.
    public var threatModel: ThreatModel
    /// The fraction classified correctly without attack.
    public var cleanAccuracy: Float
    /// One result per attack, in the order given.
    public var attacks: [AttackResult]
    /// The fraction correct under every attack: the worst case per example.
    public var worstCaseRobustAccuracy: Float
    /// Seconds for the clean pass.
    public var cleanSeconds: Double
}

/// Evaluates `model` on `inputs`/`labels` clean and under each attack, in batches.
///
/// An example counts as robust for an attack only if it is classified correctly both clean and
/// under that attack, so robust accuracy never exceeds clean accuracy. Each attack starts from
/// its own generator split from `generator`, so results do not depend on the order of attacks.
///
/// - Parameter progress: called with (phase, examples done, total): once with 0 done as each
///   phase ("clean", then each attack's name) starts, then after each batch.
public func evaluateRobustness<Model: Layer, G: RandomNumberGenerator>(
    _ model: Model, inputs: Tensor, labels: [Int32], attacks: [any Attack], threatModel: ThreatModel,
    batchSize: Int = 256, using generator: inout G,
    progress: (_ attack: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
) -> RobustnessReport {
    precondition(inputs.shape.first == labels.count, "inputs and labels differ in count")
    var model = model.with(mode: .inference)
    let count = labels.count
    let batches = stride(from: 0, to: count, by: Swift.max(batchSize, 1)).map { $0..<Swift.min($0 + batchSize, count) }

    progress("clean", 0, count)
    let cleanStart = Date()
    var cleanCorrect = [Bool]()
    for range in batches {
        let predicted = predictions(model(inputs.slice(alongAxis: 0, range)))
        cleanCorrect += zip(predicted, labels[range]).map { $0 == $1 }
        progress("clean", range.upperBound, count)
    }
    let cleanSeconds = Date().timeIntervalSince(cleanStart)

    var results = [AttackResult]()
    for attack in attacks {
        var attackGenerator = SplitMix64(seed: generator.next())
        progress(attack.name, 0, count)
        let start = Date()
        var robust = [Bool]()
        var maximumNorm: Float = 0
        for range in batches {
            let batch = inputs.slice(alongAxis: 0, range)
            let batchLabels = Array(labels[range])
            let adversarial = attack.perturb(batch, labels: batchLabels, against: model, using: &attackGenerator)
            maximumNorm = Swift.max(maximumNorm, attack.threatModel.norms(of: adversarial - batch).max() ?? 0)
            let predicted = predictions(model(adversarial))
            for (offset, index) in range.enumerated() {
                robust.append(cleanCorrect[index] && predicted[offset] == batchLabels[offset])
            }
            progress(attack.name, range.upperBound, count)
        }
        results.append(AttackResult(
            name: attack.name, robustAccuracy: fraction(robust), maximumPerturbationNorm: maximumNorm,
            seconds: Date().timeIntervalSince(start), robust: robust))
    }
    let worst = (0..<count).map { index in cleanCorrect[index] && results.allSatisfy { $0.robust[index] } }
    return RobustnessReport(
        count: count, threatModel: threatModel, cleanAccuracy: fraction(cleanCorrect), attacks: results,
        worstCaseRobustAccuracy: fraction(worst), cleanSeconds: cleanSeconds)
}

private func fraction(_ flags: [Bool]) -> Float {
    flags.isEmpty ? 0 : Float(flags.filter { $0 }.count) / Float(flags.count)
}
