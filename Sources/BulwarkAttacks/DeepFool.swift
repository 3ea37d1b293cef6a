import BulwarkCore
import BulwarkNN

// MARK: - Minimum-norm attacks

/// An attack that looks for the smallest perturbation that changes the prediction, with no ε
/// in the search (DeepFool, Carlini–Wagner).
///
/// ``minimumNormPerturbation(_:labels:against:using:)`` returns its result before any
/// projection, so one run serves every ε: an example is broken at ε exactly when the attack
/// fooled the model with a perturbation of norm ≤ ε (``MinimumNormResult/breakingEpsilons``).
/// `perturb` returns the same result projected onto the threat model's ε-ball (where the
/// projection shrinks a perturbation, the attack can then fail on that example).
public protocol MinimumNormAttack: Attack {
    /// The attack's result inside the threat model's bounds but not projected onto its ε-ball;
    /// norms are measured in the threat model's norm.
    func minimumNormPerturbation<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> MinimumNormResult
}

extension MinimumNormAttack {
    /// ``minimumNormPerturbation(_:labels:against:using:)`` projected onto the ε-ball of
    /// ``threatModel``.
    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
            .projected(onto: threatModel, around: inputs)
    }
}

/// A minimum-norm attack that draws nothing and starts from a ``MinimumNormBatch``
/// (Carlini–Wagner, DeepFool): its ``minimumNormPerturbation(_:labels:against:using:)``
/// returns an empty batch as it is and otherwise runs ``minimumNormPerturbation(of:labels:)``.
package protocol BatchMinimumNormAttack: MinimumNormAttack {
    /// The attack's result on the non-empty `batch`, whose labels are `labels`.
    func minimumNormPerturbation<Model: Layer>(of batch: MinimumNormBatch<Model>, labels: [Int32]) -> MinimumNormResult
}

extension BatchMinimumNormAttack {
    /// ``minimumNormPerturbation(of:labels:)`` of the batch of `inputs`; draws nothing from
    /// `generator`.
    public func minimumNormPerturbation<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> MinimumNormResult {
        guard let batch = MinimumNormBatch(inputs, labels: labels, model: model) else {
            return MinimumNormResult(adversarial: inputs.detached, fooled: [], norms: [])
        }
        return minimumNormPerturbation(of: batch, labels: labels)
    }
}

/// A batch as Carlini–Wagner and DeepFool start from it: the inputs untraced, their count, the
/// scalars of one example and its shape, and an inference copy of the model.
package struct MinimumNormBatch<Model: Layer> {
    package let original: Tensor
    package let count: Int
    package let size: Int
    package let exampleShape: [Int]
    package var model: Model

    /// `nil` for an empty batch.
    package init?(_ inputs: Tensor, labels: [Int32], model: Model) {
        precondition(inputs.shape.first == labels.count, "inputs and labels differ in count")
        guard !labels.isEmpty else { return nil }
        original = inputs.detached
        count = labels.count
        size = original.scalarCount / count
        exampleShape = Array(original.shape.dropFirst())
        self.model = model.with(mode: .inference)
    }
}

/// The unprojected result of a ``MinimumNormAttack``, per example.
public struct MinimumNormResult: Sendable, Equatable {
    /// `x + δ`: inside the bounds, not projected onto any ε-ball. The clean input where the
    /// clean input is already misclassified; the attack's last (or best) attempt otherwise.
    public var adversarial: Tensor
    /// Whether the model misclassifies `adversarial` (true, with norm 0, for examples
    /// misclassified clean).
    public var fooled: [Bool]
    /// ‖δ‖ = ‖`adversarial` − x‖ in the attack's norm.
    public var norms: [Float]

    /// Creates a result.
    public init(adversarial: Tensor, fooled: [Bool], norms: [Float]) {
        precondition(fooled.count == norms.count, "one flag and one norm per example")
        self.adversarial = adversarial
        self.fooled = fooled
        self.norms = norms
    }

    /// Per example, the smallest ε at which the attack breaks it: its norm where it fooled
    /// the model, +∞ where it did not. Robust accuracy at ε is the fraction with
    /// `breakingEpsilons[i] > ε`.
    public var breakingEpsilons: [Float] {
        zip(fooled, norms).map { $0 ? $1 : .infinity }
    }

    /// `adversarial` projected onto `threatModel`'s ε-ball around `original` (and its bounds).
    public func projected(onto threatModel: ThreatModel, around original: Tensor) -> Tensor {
        threatModel.project(adversarial, around: original.detached)
    }
}

// MARK: - DeepFool

/// DeepFool (Moosavi-Dezfooli, Fawzi and Frossard, CVPR 2016, "DeepFool: a simple and accurate
/// method to fool deep neural networks"): a minimum-norm attack that repeatedly linearizes
/// the classifier and steps to the nearest linearized decision boundary.
///
/// Algorithm 2 (multi-class) with the paper's symbols: at iterate `xᵢ` (from `x₀ = x`), for
/// each candidate class `k ≠ k̂(x₀)` (the true label here),
/// `w'_k = ∇f_k(xᵢ) − ∇f_{k̂(x₀)}(xᵢ)` and `f'_k = f_k(xᵢ) − f_{k̂(x₀)}(xᵢ)` on the logits `f`;
/// `l̂ = argmin_k |f'_k| / ‖w'_k‖_q` with `q` the dual norm (2 for L2, 1 for L∞: the paper's
/// extension to ℓp norms, `q = p/(p − 1)`);
/// the step is `rᵢ = |f'_l̂| / ‖w'_l̂‖₂² · w'_l̂` for L2 and `rᵢ = |f'_l̂| / ‖w'_l̂‖₁ · sign(w'_l̂)`
/// for L∞; `r̂ = Σ rᵢ`, `xᵢ₊₁ = clip(x + (1 + η) r̂)` with η the ``overshoot``. Each example
/// stops as soon as its label flips, after at most ``steps`` iterations.
///
/// As in the reference code (github.com/LTS4/DeepFool) and Foolbox, `1e-4` is added to the
/// step length for numerical stability and only the ``candidates`` classes with the highest
/// clean logits are considered. Departures: the true label plays the role of `k̂(x₀)` (it is
/// the clean prediction for every example attacked, since misclassified examples are
/// returned as they are), and iterates are clipped to the input bounds (as Foolbox does; the
/// reference works on unbounded normalized inputs).
///
/// The gradients of all `candidates − 1` differences come from one backward pass through a
/// batch that repeats each example once per candidate.
public struct DeepFool: BatchMinimumNormAttack {
    /// The norm (L2 or L∞) selects the variant; ε is used only by `perturb`'s projection.
    public var threatModel: ThreatModel
    /// The most iterations per example (the reference's `max_iter`, 50).
    public var steps: Int
    /// η, the factor `1 + η` the accumulated perturbation is scaled by to cross the boundary
    /// (0.02).
    public var overshoot: Float
    /// How many classes, the label included, are candidates for `l̂`: the label and the
    /// classes with the highest clean logits (the reference's `num_classes`, 10).
    public var candidates: Int
    /// `deepfool`.
    public var name: String { "deepfool" }

    /// Creates the attack with the reference's defaults.
    public init(threatModel: ThreatModel, steps: Int = 50, overshoot: Float = 0.02, candidates: Int = 10) {
        precondition(steps >= 1, "DeepFool needs at least one step")
        precondition(overshoot >= 0, "the overshoot must be non-negative")
        precondition(candidates >= 2, "DeepFool needs at least two candidate classes")
        self.threatModel = threatModel
        self.steps = steps
        self.overshoot = overshoot
        self.candidates = candidates
    }

    /// DeepFool's perturbation before projection onto the ε-ball.
    package func minimumNormPerturbation<Model: Layer>(of batch: MinimumNormBatch<Model>, labels: [Int32]) -> MinimumNormResult {
        let (original, count, size, exampleShape) = (batch.original, batch.count, batch.size, batch.exampleShape)
        var model = batch.model
        let (low, high) = (threatModel.bounds.lowerBound, threatModel.bounds.upperBound)
        let x0 = original.array
        var x = x0
        var total = [Float](repeating: 0, count: count * size)

        let cleanLogits = model(original)
        let classCount = cleanLogits.shape[1]
        precondition(classCount >= 2, "DeepFool needs at least two classes")
        let k = Swift.min(candidates, classCount)
        // classes[e][0] is the label, then the other classes by decreasing clean logit.
        let cleanValues = cleanLogits.array
        let classes: [[Int]] = labels.enumerated().map { row, label in
            let others = (0..<classCount).filter { $0 != Int(label) }.sorted { a, b in
                let (za, zb) = (cleanValues[row * classCount + a], cleanValues[row * classCount + b])
                return za != zb ? za > zb : a < b
            }
            return [Int(label)] + others.prefix(k - 1)
        }
        var done = zip(predictions(cleanLogits), labels).map { $0 != $1 }

        for _ in 0..<steps {
            let active = (0..<count).filter { !done[$0] }
            if active.isEmpty { break }
            let a = active.count
            // Block j − 1 (j = 1 ..< k) of the stacked batch holds every active example and
            // selects f_{c_j} − f_{c_0}.
            var stacked = [Float]()
            stacked.reserveCapacity((k - 1) * a * size)
            var mask = [Float](repeating: 0, count: (k - 1) * a * classCount)
            for j in 1..<k {
                for (r, e) in active.enumerated() {
                    stacked += x[e * size..<(e + 1) * size]
                    let row = (j - 1) * a + r
                    mask[row * classCount + classes[e][j]] += 1
                    mask[row * classCount + classes[e][0]] -= 1
                }
            }
            let (stackedGradient, logits) = maskedLogitGradient(
                of: &model, at: Tensor(shape: [(k - 1) * a] + exampleShape, scalars: stacked),
                mask: Tensor(shape: [(k - 1) * a, classCount], scalars: mask))
            let gradient = stackedGradient.array
            let z = logits.array
            let predicted = logits.slice(alongAxis: 0, 0..<a).argmax(alongAxis: 1)

            for (r, e) in active.enumerated() {
                if predicted[r] != Int(labels[e]) { done[e] = true; continue }
                var bestDistance = Float.infinity
                var bestRow = -1
                for j in 1..<k {
                    let row = (j - 1) * a + r
                    let difference = z[row * classCount + classes[e][j]] - z[row * classCount + classes[e][0]]
                    let w = gradient[row * size..<(row + 1) * size]
                    let dual: Float
                    switch threatModel.norm {
                    case .l2: dual = Float(w.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                    case .lInfinity: dual = w.reduce(0) { $0 + Swift.abs($1) }
                    }
                    let distance = Swift.abs(difference) / (dual + 1e-8)
                    if distance < bestDistance || bestRow < 0 { bestDistance = distance; bestRow = row }
                }
                let w = gradient[bestRow * size..<(bestRow + 1) * size]
                let length = bestDistance + 1e-4
                let base = e * size
                switch threatModel.norm {
                case .l2:
                    let norm = Float(w.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()) + 1e-8
                    for (i, value) in w.enumerated() { total[base + i] += length * value / norm }
                case .lInfinity:
                    for (i, value) in w.enumerated() { total[base + i] += length * (value > 0 ? 1 : value < 0 ? -1 : 0) }
                }
                for i in base..<(base + size) {
                    x[i] = Swift.min(Swift.max(x0[i] + (1 + overshoot) * total[i], low), high)
                }
            }
        }

        let adversarial = Tensor(shape: original.shape, scalars: x)
        let fooled = zip(predictions(model(adversarial)), labels).map { $0 != $1 }
        return MinimumNormResult(adversarial: adversarial, fooled: fooled, norms: threatModel.norms(of: adversarial - original))
    }
}

/// The gradient at `inputs` of the sum of `model`'s logits weighed by `mask` (`[N, classes]`;
/// a +1 and a −1 in a row select a difference of two logits), with the logits: every row's
/// logit difference and its gradient from one forward and one backward pass.
func maskedLogitGradient<Model: Layer>(of model: inout Model, at inputs: Tensor, mask: Tensor) -> (gradient: Tensor, logits: Tensor) {
    var logits = Tensor(0)
    let gradient = BulwarkCore.gradient(at: inputs) { inputs in
        let z = model(inputs)
        logits = z.detached
        return (z * mask).sum()
    }
    return (gradient, logits)
}
