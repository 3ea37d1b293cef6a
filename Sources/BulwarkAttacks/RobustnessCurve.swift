import BulwarkCore
import BulwarkNN
import Foundation

/// Robust accuracy at many budgets at once, with the success matrix behind it (Foolbox's
/// many-ε evaluation).
public struct RobustnessCurve: Sendable, Codable, Equatable {
    /// The budgets, ascending.
    public var epsilons: [Float]
    /// The norm of every budget.
    public var norm: Norm
    /// The number of examples.
    public var count: Int
    /// The fraction classified correctly without attack.
    public var cleanAccuracy: Float
    /// Per budget: the fraction still robust under every attack, the worst case per example
    /// (the curve).
    public var robustAccuracy: [Float]
    /// Per attack name, per budget: the fraction robust against that attack alone, whatever
    /// the other attacks did.
    public var attackRobustAccuracy: [String: [Float]]
    /// `success[e][i]`: whether example `i` is broken (misclassified clean, or fooled) at
    /// budget `epsilons[e]`.
    public var success: [[Bool]]
}

/// Evaluates `model` at every budget in `epsilons` (in `norm`).
///
/// Budget-driven attacks (`makeAttacks`, called once per ε) each attack, at each ε, the
/// clean-correct examples that attack did not break at a smaller ε: a perturbation inside a
/// smaller ball is inside every larger one, so its success only grows with ε. Each attack's
/// robust accuracy is its own; an example counts as broken for the curve when any attack
/// broke it. Minimum-norm attacks run once, and an example counts as broken at ε when their
/// perturbation's norm is at most ε (clipping per ε instead of re-running).
///
/// - Complexity: each budget-driven attack runs on a shrinking set of examples per ε; the
///   minimum-norm attacks run once on the clean-correct examples.
public func evaluateRobustnessCurve<Model: Layer, G: RandomNumberGenerator>(
    _ model: Model, inputs: Tensor, labels: [Int32], epsilons: [Float], norm: Norm,
    attacks makeAttacks: (ThreatModel) -> [any Attack], minimumNormAttacks: [any MinimumNormAttack] = [],
    batchSize: Int = 256, using generator: inout G,
    progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
) -> RobustnessCurve {
    precondition(!epsilons.isEmpty && epsilons.allSatisfy { $0 >= 0 && $0.isFinite }, "epsilons must be finite and non-negative")
    precondition(inputs.shape.first == labels.count, "inputs and labels differ in count")
    let budgets = Array(Set(epsilons)).sorted()
    var model = model.with(mode: .inference)
    let count = labels.count

    var cleanCorrect = [Bool]()
    for start in stride(from: 0, to: count, by: batchSize) {
        let range = start..<Swift.min(start + batchSize, count)
        cleanCorrect += zip(predictions(model(inputs.slice(alongAxis: 0, range))), labels[range]).map { $0 == $1 }
    }

    let cleanAccuracy = Float(cleanCorrect.filter { $0 }.count) / Float(Swift.max(count, 1))

    // Smallest breaking budget per example from each minimum-norm attack.
    var attackRobust = [String: [Float]]()
    var minimumNormBreak = [Float](repeating: .infinity, count: count)
    let correctIndices = (0..<count).filter { cleanCorrect[$0] }
    for attack in minimumNormAttacks {
        var attackGenerator = SplitMix64(seed: generator.next())
        var breaking = [Float](repeating: .infinity, count: count)
        progress(attack.name, 0, correctIndices.count)
        for start in stride(from: 0, to: correctIndices.count, by: batchSize) {
            let indices = Array(correctIndices[start..<Swift.min(start + batchSize, correctIndices.count)])
            let result = attack.minimumNormPerturbation(
                inputs.gathering(atIndices: indices, alongAxis: 0), labels: indices.map { labels[$0] },
                against: model, using: &attackGenerator)
            for (offset, index) in indices.enumerated() { breaking[index] = result.breakingEpsilons[offset] }
            progress(attack.name, start + indices.count, correctIndices.count)
        }
        for index in 0..<count { minimumNormBreak[index] = Swift.min(minimumNormBreak[index], breaking[index]) }
        attackRobust[attack.name] = budgets.map { epsilon in
            Float((0..<count).filter { cleanCorrect[$0] && breaking[$0] > epsilon }.count) / Float(Swift.max(count, 1))
        }
    }

    var broken = cleanCorrect.map { !$0 }
    // Per budget-driven attack (by position in `makeAttacks`' list): the examples it broke.
    var brokenByAttack = [[Bool]]()
    var success = [[Bool]]()
    for (position, epsilon) in budgets.enumerated() {
        for index in 0..<count where minimumNormBreak[index] <= epsilon { broken[index] = true }
        let threatModel = ThreatModel(norm: norm, epsilon: epsilon)
        let attacks = epsilon > 0 ? makeAttacks(threatModel) : []
        for (attackPosition, attack) in attacks.enumerated() {
            var attackGenerator = SplitMix64(seed: generator.next())
            if brokenByAttack.count <= attackPosition { brokenByAttack.append(cleanCorrect.map { !$0 }) }
            var own = brokenByAttack[attackPosition]
            let targets = (0..<count).filter { !own[$0] }
            let phase = "\(attack.name) ε=\(epsilon)"
            progress(phase, 0, targets.count)
            for start in stride(from: 0, to: targets.count, by: batchSize) {
                let indices = Array(targets[start..<Swift.min(start + batchSize, targets.count)])
                let batch = inputs.gathering(atIndices: indices, alongAxis: 0)
                let batchLabels = indices.map { labels[$0] }
                let adversarial = attack.perturb(batch, labels: batchLabels, against: model, using: &attackGenerator)
                let predicted = predictions(model(adversarial))
                for (offset, index) in indices.enumerated() where predicted[offset] != batchLabels[offset] { own[index] = true }
                progress(phase, start + indices.count, targets.count)
            }
            brokenByAttack[attackPosition] = own
            for index in 0..<count where own[index] { broken[index] = true }
            // At budgets an attack does not run (ε = 0) it leaves clean accuracy.
            attackRobust[attack.name, default: [Float](repeating: cleanAccuracy, count: budgets.count)][position] =
                Float(own.filter { !$0 }.count) / Float(Swift.max(count, 1))
        }
        success.append(broken)
    }
    return RobustnessCurve(
        epsilons: budgets, norm: norm, count: count,
        cleanAccuracy: cleanAccuracy,
        robustAccuracy: success.map { row in Float(row.filter { !$0 }.count) / Float(Swift.max(count, 1)) },
        attackRobustAccuracy: attackRobust, success: success)
}
