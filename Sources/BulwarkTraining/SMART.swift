import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// SMART (Jiang, He, Chen, Liu, Gao and Zhao 2020, "SMART: Robust and Efficient Fine-Tuning for
/// Pre-trained Natural Language Models through Principled Regularized Optimization", ACL):
/// the smoothness-inducing adversarial regularizer on embeddings (eq. 1–3) optimized by the
/// momentum Bregman proximal point method (eq. 4–5), Algorithm 1 with `S = 1` (each step is
/// one outer iteration `t`).
///
/// The smoothness regularizer is `R_s(θ) = max_{‖x̃ − x‖ ≤ ε} ℓ_s(f(x̃; θ), f(x; θ))` with
/// `ℓ_s(P, Q) = KL(P‖Q) + KL(Q‖P)`, the symmetric KL between the predictions at the perturbed
/// and the clean embedded sequence (no labels). Per batch `B`:
/// - lines 6–10: `x̃ = x + ν` with `ν ~ N(0, σ²I)` over real tokens (`σ` = ``initialNoise``),
///   then `T_x̃` = ``steps`` ascent steps of length `η` = ``stepSize`` along the normalized
///   gradient, each projected onto the ball of radius ε (``threatModel``). The paper
///   normalizes and projects in L∞; here the norm is L2 per example over real tokens, as for
///   every embedding method in this module.
/// - line 11 (`AdamUpdate_B`): the optimizer takes one step on
///   `L(θ) + λ_s R_s(θ) + μ D_Breg(θ, θ̃_t)` with `D_Breg(θ, θ̃) = (1/|B|) Σ ℓ_s(f(x_i; θ), f(x_i; θ̃))`
///   (``bregmanDivergence(logits:proximalLogits:reduction:)``), `λ_s` =
///   ``regularizationWeight``, `μ` = ``proximalWeight``. As in the reference code, the
///   regularizer's ℓ_s is `KL(f(x̃) ‖ sg f(x)) + KL(f(x) ‖ sg f(x̃))`, each side with the other
///   held constant; `D_Breg` holds `f(x; θ̃)` constant and differentiates both KLs in θ.
/// - line 14: `θ̃_{t+1} = (1 − β) θ_t + β θ̃_t` with `θ_t` the updated weights and `β` =
///   ``momentum``; line 1: `θ̃_1 = θ_0`, the weights at this method's first step (after any
///   clean warm-up), unless ``proximalPoint`` was set beforehand (a pre-trained model's).
///
/// `f(x; θ̃)` runs in the model's mode with the dropout masks of the clean pass of `θ` (a copy
/// of the model, generator included, with θ̃ loaded), so `D_Breg` measures the change of the
/// parameters, not two dropout draws, and is exactly zero when `θ = θ̃`. The paper uses `μ = 1`,
/// `β = 0.99` for the first 10% of updates and 0.999 after; `β` is constant here. A
/// ``proximalWeight`` of 0 turns the proximal point off (the regularizer alone, one forward
/// pass fewer per step). θ̃ is carried from step to step as part of the method's value and is
/// its ``stateTensors``, so that a ``TextTrainer`` run resumed from a checkpoint continues with it.
public struct SMART: TextTrainingMethod {
    public var name: String { "smart" }
    /// The radius ε of the perturbation, per example.
    public var threatModel: ThreatModel
    /// The number of ascent steps (the paper's default is 1).
    public var steps: Int
    /// `η`, the L2 length of each ascent step.
    public var stepSize: Float
    /// The standard deviation of the random start.
    public var initialNoise: Float
    /// `λ_s`, the weight of the smoothness regularizer.
    public var regularizationWeight: Float
    /// `μ`, the weight of the Bregman proximal term `D_Breg(θ, θ̃)`; 0 turns it off.
    public var proximalWeight: Float
    /// `β`, the momentum of the proximal point: `θ̃ ← (1 − β) θ + β θ̃` after every step.
    public var momentum: Float
    /// `θ̃`, keyed by parameter path: `nil` until the first step sets it to the model's
    /// parameters (or set it beforehand to anchor training to other weights of the same model).
    public var proximalPoint: [String: Tensor]?

    /// Creates the method.
    public init(
        threatModel: ThreatModel, steps: Int = 1, stepSize: Float, initialNoise: Float = 1e-3,
        regularizationWeight: Float = 1, proximalWeight: Float = 1, momentum: Float = 0.99
    ) {
        precondition(steps >= 1 && stepSize >= 0 && initialNoise >= 0 && regularizationWeight >= 0,
                     "SMART needs at least one step and non-negative step size, noise and weight")
        precondition(proximalWeight >= 0 && proximalWeight.isFinite, "SMART's proximalWeight μ must be finite and non-negative")
        precondition(momentum >= 0 && momentum < 1, "SMART's momentum β must be in [0, 1)")
        self.threatModel = threatModel.inRegion(.embeddedSequence)
        self.steps = steps
        self.stepSize = stepSize
        self.initialNoise = initialNoise
        self.regularizationWeight = regularizationWeight
        self.proximalWeight = proximalWeight
        self.momentum = momentum
    }

    /// `ℓ_s(P, Q)` per batch (summed over examples when `reduction` is `.sum`), each KL with its
    /// target held constant.
    public static func symmetricKL(_ logits: Tensor, _ otherLogits: Tensor, reduction: Reduction = .mean) -> Tensor {
        klDivergence(logits: logits, targetLogits: otherLogits, reduction: reduction)
            + klDivergence(logits: otherLogits, targetLogits: logits, reduction: reduction)
    }

    /// `ℓ_s(f(x; θ), f(x; θ̃))` per example, `Σ_k (p_k − q_k)(log p_k − log q_k)` with
    /// `p = softmax(logits)` and `q = softmax(proximalLogits)` held constant, reduced over the
    /// batch; both KLs are differentiated in `logits`.
    public static func bregmanDivergence(logits: Tensor, proximalLogits: Tensor, reduction: Reduction = .mean) -> Tensor {
        let logP = logSoftmax(logits)
        let logQ = logSoftmax(proximalLogits.detached)
        let perExample = ((logP.exp() - logQ.exp()) * (logP - logQ)).sum(alongAxis: 1)
        return switch reduction {
        case .mean: perExample.mean()
        case .sum: perExample.sum()
        case .none: perExample
        }
    }

    /// `D_Breg(θ, θ̃)` on `tokens` (mean over examples) in the model's current mode, both passes
    /// with the same dropout masks; `nil` before there is a proximal point.
    public func bregmanDivergence<Model: TextClassifier>(of model: Model, on tokens: Tensor) -> Tensor? {
        guard let proximal = proximalModel(model) else { return nil }
        var (current, anchor) = (model, proximal)
        let mask = paddingMask(tokens)
        return Self.bregmanDivergence(logits: current.classify(current.embed(tokens), mask: mask),
                                      proximalLogits: anchor.classify(anchor.embed(tokens), mask: mask))
    }

    /// A copy of `model` (mode and generator included) holding θ̃, or `nil` before there is one.
    private func proximalModel<Model: Layer>(_ model: Model) -> Model? {
        guard let proximalPoint else { return nil }
        var copy = model
        copy.visitParameters { path, tensor in
            guard let value = proximalPoint[path] else { return }
            precondition(value.shape == tensor.shape, "SMART's proximal point has shape \(value.shape) at '\(path)', the model \(tensor.shape)")
            tensor = value
        }
        return copy
    }

    /// The perturbation `x̃ − x` `[count, length, dimension]` for `tokens`, computed without
    /// labels in the model's current mode.
    public func perturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        for tokens: Tensor, against model: inout Model, using generator: inout G
    ) -> Tensor {
        let clean = CleanEmbedding(tokens, model: &model)
        let mask = clean.mask
        let noise = Tensor(randomNormal: clean.embedded.shape, standardDeviation: initialNoise, using: &generator)
        var delta = threatModel.project(noise, mask: mask)
        for _ in 0..<steps {
            // The clean side is a constant here, so only KL(f(x̃) ‖ f(x)) has a gradient.
            let gradient = BulwarkCore.gradient(at: delta) { clean.divergence(at: $0, model: &model) }
            delta = threatModel.project(delta + stepSize * threatModel.steepestAscent(along: gradient, mask: mask), mask: mask)
        }
        return delta
    }

    public mutating func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let (tokens, labels) = (batch.inputs, batch.labels)
        if proximalWeight > 0 && proximalPoint == nil { proximalPoint = model.parameters }  // θ̃₁ = θ₀
        let perturbation = perturbation(for: tokens, against: &model, using: &generator)
        let mask = paddingMask(tokens)
        // Copied now, θ̃'s model draws the dropout masks of the clean pass below.
        let proximalLogits = proximalWeight > 0 ? proximalModel(model).map { proximal in
            var proximal = proximal
            return proximal.classify(proximal.embed(tokens), mask: mask).detached
        } : nil
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            let embedded = model.embed(tokens)
            logits = model.classify(embedded, mask: mask)
            let perturbed = model.classify(embedded + perturbation, mask: mask)
            let objective = softmaxCrossEntropy(logits: logits, labels: labels) + regularizationWeight * Self.symmetricKL(perturbed, logits)
            guard let proximalLogits else { return objective }
            return objective + proximalWeight * Self.bregmanDivergence(logits: logits, proximalLogits: proximalLogits)
        }
        guard optimizer.update(&model, along: gradients, ifFinite: loss.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        if proximalWeight > 0 { moveProximalPoint(toward: model) }
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }

    /// ``proximalPoint`` (θ̃), each parameter's tensor under `proximal_point.` and its path;
    /// empty before there is one.
    public var stateTensors: [String: Tensor] {
        var tensors = [String: Tensor]()
        for (path, tensor) in proximalPoint ?? [:] { tensors[Self.proximalPointPrefix + path] = tensor }
        return tensors
    }

    /// Restores ``proximalPoint`` from ``stateTensors``; without its tensors θ̃ is `nil` again
    /// (the next step sets it to the model's weights).
    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {
        var point = [String: Tensor]()
        for (name, tensor) in tensors where name.hasPrefix(Self.proximalPointPrefix) {
            point[String(name.dropFirst(Self.proximalPointPrefix.count))] = tensor
        }
        proximalPoint = point.isEmpty ? nil : point
    }

    private static let proximalPointPrefix = "proximal_point."

    /// `θ̃ ← (1 − β) θ + β θ̃` (Algorithm 1, line 14).
    private mutating func moveProximalPoint<Model: Layer>(toward model: Model) {
        guard let proximalPoint else { return }
        var moved = [String: Tensor]()
        for (path, parameter) in model.parameters {
            moved[path] = ((1 - momentum) * parameter.detached + momentum * (proximalPoint[path] ?? parameter).detached).detached
        }
        self.proximalPoint = moved
    }
}
