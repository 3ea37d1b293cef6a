import BulwarkCore
import BulwarkNN

/// What the adversary wants.
public enum Objective: Sendable, Equatable {
    /// Any wrong class: the attack ascends the loss of the true label.
    case untargeted
    /// A chosen class: the attack descends the loss of the target label.
    case targeted(TargetChoice)
    /// Away from the clean prediction: the attack ascends `KL(f(x) ‖ f(x'))` with `f(x)` the
    /// model's logits on the clean input, held fixed, and the labels unused (the inner
    /// maximization of TRADES, Zhang et al. 2019).
    case divergence
}

/// How a targeted attack picks each example's target class.
public enum TargetChoice: Sendable, Equatable {
    /// A class other than the label, uniformly at random from the attack's generator.
    case random
    /// The class the model finds least likely on the clean input.
    case leastLikely
    /// The same class for every example (examples of that class are left as they are).
    case fixed(Int32)
}

/// What APGD and FAB aim for: any wrong class, or separate rounds towards each of the classes
/// the model ranks highest on the clean input.
public enum TopClassesObjective: Sendable, Equatable {
    /// Any wrong class: the loss of the true label (APGD), the nearest decision boundary of
    /// all classes (FAB).
    case untargeted
    /// Separate rounds towards each of the `targetCount` classes with the highest clean logits
    /// other than the label (capped at the number of classes − 1). AutoAttack's standard
    /// setting is 9 targets.
    case targeted(targetCount: Int = 9)

    /// The targets of each round for the examples `rows` (`[nil]`, one round without targets,
    /// when untargeted): round k holds each row's k-th most likely class other than its label
    /// on `cleanLogits` `[N, classes]`, ties to the lower class.
    package func rounds(rows: [Int], labels: [Int32], cleanLogits: Tensor) -> [[Int32]?] {
        guard case .targeted(let targetCount) = self else { return [nil] }
        let classCount = cleanLogits.shape[1]
        let logits = cleanLogits.array
        let ranked = rows.map { row -> [Int32] in
            let base = row * classCount
            return (0..<classCount).filter { $0 != Int(labels[row]) }
                .sorted { a, b in logits[base + a] != logits[base + b] ? logits[base + a] > logits[base + b] : a < b }
                .map { Int32($0) }
        }
        return (0..<Swift.min(targetCount, classCount - 1)).map { rank in ranked.map { $0[rank] } }
    }
}

/// The loss an attack ascends.
public enum AttackLoss: String, Sendable, Codable {
    /// Softmax cross-entropy.
    case crossEntropy = "ce"
    /// The Carlini–Wagner margin `max_{j≠y} z_j − z_y` (untargeted) or `max_{j≠t} z_j − z_t`
    /// negated (targeted), Carlini and Wagner 2017, without the confidence clip.
    case margin
    /// The difference of logits ratio, Croce and Hein 2020, "Reliable evaluation of adversarial
    /// robustness with an ensemble of diverse parameter-free attacks" (ICML). With `π` the
    /// classes sorted by decreasing logit `z`, the untargeted loss is
    /// `DLR(x, y) = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12)` and the targeted one (towards
    /// `t`, their APGD-T) `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)`. Both are invariant to
    /// shifting and (positively) rescaling the logits, so they do not saturate like
    /// cross-entropy. Needs at least 3 classes (4 when targeted); the targeted form also needs
    /// the true labels (`attackLoss(…, trueLabels:)`).
    case dlr
}

/// An adversarial-example generator: a struct of hyper-parameters with one verb.
///
/// `perturb` returns inputs within ``threatModel`` of the originals. The attack runs its own
/// copy of the model in inference mode, so the caller's model is untouched.
public protocol Attack: Sendable {
    /// A short name for reports (`pgd`, `fgsm`).
    var name: String { get }
    /// The ball the adversarial inputs stay in.
    var threatModel: ThreatModel { get }

    /// Adversarial versions of `inputs` (`[N, …]` in the threat model's bounds) for the true
    /// `labels`, against `model`, with every random choice drawn from `generator`.
    func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor
}

/// The per-example loss an attack ascends, given logits and the labels it is measured
/// against (true labels when untargeted, target labels when targeted).
///
/// - Parameter trueLabels: the true labels when `targeted`; only the targeted DLR loss reads
///   them (and requires them), every other loss ignores them.
package func attackLoss(
    _ loss: AttackLoss, logits: Tensor, labels: [Int32], targeted: Bool, trueLabels: [Int32]? = nil
) -> Tensor {
    switch loss {
    case .crossEntropy:
        let perExample = softmaxCrossEntropy(logits: logits, labels: labels, reduction: .none)
        return targeted ? -perExample : perExample
    case .margin:
        let mask = oneHot(labels, classCount: logits.shape[1])
        let labelLogit = (logits * mask).sum(alongAxis: 1)
        // Push the label's own logit far down so the max picks the best other class.
        let other = (logits - mask * 1e9).max(alongAxis: 1)
        return targeted ? labelLogit - other : other - labelLogit
    case .dlr:
        if targeted {
            guard let trueLabels else {
                preconditionFailure("the targeted DLR loss needs the true labels as well as the targets (trueLabels:)")
            }
            return differenceOfLogitsRatio(logits: logits, labels: trueLabels, targets: labels)
        }
        return differenceOfLogitsRatio(logits: logits, labels: labels, targets: nil)
    }
}

/// Each example's target class under `choice`.
package func targets<Model: Layer, G: RandomNumberGenerator>(
    _ choice: TargetChoice, inputs: Tensor, labels: [Int32], model: inout Model, using generator: inout G
) -> [Int32] {
    switch choice {
    case .fixed(let target):
        return labels.map { _ in target }
    case .random:
        let classCount = model(inputs.slice(alongAxis: 0, 0..<Swift.min(1, inputs.shape[0]))).shape[1]
        return labels.map { label in
            let offset = Int32(1 + generator.next() % UInt64(Swift.max(classCount - 1, 1)))
            return (label + offset) % Int32(classCount)
        }
    case .leastLikely:
        let logits = model(inputs)
        return (-logits).argmax(alongAxis: 1).map { Int32($0) }
    }
}
