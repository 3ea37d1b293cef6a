import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Adversarial weight perturbation (AWP): Wu, Xia and Wang 2020, "Adversarial Weight
/// Perturbation Helps Robust Generalization" (NeurIPS), on top of PGD-AT or TRADES, as in the
/// authors' reference code (`utils_awp.py`, `train_cifar10.py`, `train_trades_cifar.py`).
///
/// AWP flattens the loss landscape in weight space by training against a worst case of both
/// the inputs and the weights:
///
///     min_w  max_{v ∈ V(w)}  ρ(w + v),    V(w) = { v : ‖v_l‖ ≤ γ · ‖w_l‖ for every layer l }
///
/// where ρ is the base method's adversarial loss (``BaseMethod``: PGD-AT's `CE(f(x'), y)` or
/// TRADES's `CE(f(x), y) + β · KL(f(x) ‖ f(x'))`). Paper symbols and parameters: γ is
/// ``gamma``, the weight perturbation's ascent steps are ``weightSteps`` (the paper's and the
/// reference's one step) and ε, K, α (and β) are the base method's.
///
/// Per batch:
/// 1. `x'`, exactly as the base method's own step makes it (the same draws from the
///    generator).
/// 2. The weight perturbation v (``weightPerturbation(of:naturalInputs:adversarialInputs:labels:)``):
///    from v = 0, each of ``weightSteps`` steps takes the gradient g of ρ at `w + v` on a copy
///    of the model in its own mode (the reference's proxy; the state the copy updates is
///    dropped) and moves every perturbed tensor by `γ · ‖w_l‖ · g_l / (‖g_l‖ + 10⁻²⁰)`, then
///    projects it onto `‖v_l‖ ≤ γ · ‖w_l‖` (with one step the move already has that norm). As
///    the reference (`diff_in_weights`) the perturbed tensors are the convolution and linear
///    weights, not biases or batch normalization's scales: those of rank ≥ 2.
/// 3. The gradient of ρ at `w + v`, the model in its own mode (state it updates, batch
///    statistics, is kept, as in the reference's forward pass through the perturbed model).
/// 4. v removed, restoring the weights `w` exactly, and one optimizer step from `w` along
///    that gradient: with plain SGD, `w ← w − η · ∇ρ(w + v)`.
///
/// The reference steps the perturbed weights and subtracts v afterwards; the result is the
/// same except that its weight decay acts on `w + v`, here on `w`. The reported loss and
/// accuracy (on `x'`) are those at `w + v`. AWP starts once ``warmupEpochs`` epochs are done
/// (``completedEpochs``, which the ``Trainer`` sets); before that, or with γ = 0, the step is
/// the base method's. The reference compares its epoch with `awp_warmup`, 0-based in the
/// PGD-AT script and 1-based in the TRADES one, whose warm-up of 10 equals `warmupEpochs = 9`.
///
/// Cost per batch: the base method's, plus one forward and backward pass per weight step.
///
/// The reference settings on CIFAR-10: γ = 0.01 without warm-up for PGD-AT (ε = 8/255,
/// 10 steps of 2/255), γ = 0.005 with a warm-up of 10 epochs for TRADES (β = 6).
public struct AdversarialWeightPerturbation: TrainingMethod {
    /// The adversarial training AWP builds on: its adversarial examples and its loss ρ.
    public enum BaseMethod: Sendable {
        /// PGD-AT (Madry et al. 2018): `ρ = CE(f(x'), y)` on its PGD examples.
        case pgd(PGDAdversarialTraining)
        /// TRADES (Zhang et al. 2019): `ρ = CE(f(x), y) + β · KL(f(x) ‖ f(x'))` on its KL examples.
        case trades(TRADES)
    }

    /// The base method.
    public var base: BaseMethod
    /// γ, the bound on each perturbed tensor's norm relative to its weights' norm.
    public var gamma: Float
    /// The ascent steps of the weight perturbation (1 in the paper and the reference code).
    public var weightSteps: Int
    /// The epochs trained with the base method alone before AWP starts.
    public var warmupEpochs: Int
    /// The epochs completed before the next step, set by the ``Trainer``; set it yourself
    /// when calling ``step(_:optimizer:on:using:)`` directly with a warm-up.
    public var completedEpochs: Int = 0
    public var name: String { "awp" }

    /// The base method's ε warm-up fraction.
    public var budgetScale: Float? {
        get {
            switch base {
            case .pgd(let method): method.budgetScale
            case .trades(let method): method.budgetScale
            }
        }
        set {
            switch base {
            case .pgd(var method):
                method.budgetScale = newValue
                base = .pgd(method)
            case .trades(var method):
                method.budgetScale = newValue
                base = .trades(method)
            }
        }
    }

    /// Creates the method. γ defaults to the reference code's: 0.01 on PGD-AT, 0.005 on
    /// TRADES.
    ///
    /// - Precondition: `gamma ≥ 0` and finite, `weightSteps ≥ 1`, `warmupEpochs ≥ 0`.
    public init(base: BaseMethod, gamma: Float? = nil, weightSteps: Int = 1, warmupEpochs: Int = 0) {
        let gamma = gamma ?? Self.defaultGamma(for: base)
        precondition(gamma >= 0 && gamma.isFinite, "AWP γ must be finite and non-negative, got \(gamma)")
        precondition(weightSteps >= 1, "AWP needs at least one weight step, got \(weightSteps)")
        precondition(warmupEpochs >= 0, "AWP's warm-up must be a non-negative number of epochs, got \(warmupEpochs)")
        self.base = base
        self.gamma = gamma
        self.weightSteps = weightSteps
        self.warmupEpochs = warmupEpochs
    }

    /// The reference code's γ for `base`: 0.01 for PGD-AT, 0.005 for TRADES.
    public static func defaultGamma(for base: BaseMethod) -> Float {
        switch base {
        case .pgd: 0.01
        case .trades: 0.005
        }
    }

    /// Whether the next step perturbs the weights (past the warm-up, γ > 0).
    public var isPerturbing: Bool { gamma > 0 && completedEpochs >= warmupEpochs }

    /// Whether AWP perturbs the parameter at `path` of this shape: whether it has rank ≥ 2.
    ///
    /// The reference's `diff_in_weights` asks for rank ≥ 2 and `weight` in the name, which in
    /// PyTorch modules and the built-in architectures picks out the same tensors as the rank
    /// alone; an imported ONNX graph names its initializers freely (`onnx::Conv_89` for a
    /// convolution with batch normalization folded in), so the rank decides.
    public static func perturbs(path: String, shape: [Int]) -> Bool {
        shape.count >= 2
    }

    /// The base method's adversarial examples for `inputs`.
    public func adversarialExamples<Model: Layer, G: RandomNumberGenerator>(
        for inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        switch base {
        case .pgd(let method): method.adversarialExamples(for: inputs, labels: labels, against: model, using: &generator)
        case .trades(let method): method.adversarialExamples(for: inputs, against: model, using: &generator)
        }
    }

    /// ρ, the base method's loss of `model` (in its own mode) with the logits of `adversarial`
    /// whose accuracy a step reports.
    public func loss<Model: Layer>(
        of model: inout Model, naturalInputs natural: Tensor, adversarialInputs adversarial: Tensor, labels: [Int32]
    ) -> (loss: Tensor, reportedLogits: Tensor) {
        switch base {
        case .pgd:
            let logits = model(adversarial)
            return (softmaxCrossEntropy(logits: logits, labels: labels), logits)
        case .trades(let method):
            let naturalLogits = model(natural)
            let adversarialLogits = model(adversarial)
            let loss = TRADES.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: method.beta)
            return (loss, adversarialLogits)
        }
    }

    /// v, the adversarial weight perturbation of `model` for these examples, keyed by
    /// parameter path (only the perturbed tensors), or `nil` if a loss or gradient on the way
    /// is not finite. See the type's documentation for the steps; `model` is not changed.
    public func weightPerturbation<Model: Layer>(
        of model: Model, naturalInputs natural: Tensor, adversarialInputs adversarial: Tensor, labels: [Int32]
    ) -> [String: Tensor]? {
        let weights = model.parameters.filter { Self.perturbs(path: $0.key, shape: $0.value.shape) }
        let radii = weights.mapValues { gamma * norm($0) }
        var perturbation = [String: Tensor]()
        for _ in 0..<weightSteps {
            var proxy = model.adding(perturbation)
            let (value, gradients) = valueWithGradient(at: &proxy) { proxy in
                loss(of: &proxy, naturalInputs: natural, adversarialInputs: adversarial, labels: labels).loss
            }
            guard value.scalar.isFinite, gradients.isFinite else { return nil }
            for (path, radius) in radii {
                guard let gradient = gradients[path] else { continue }
                let move = gradient * (radius / (norm(gradient) + 1e-20))
                var updated = perturbation[path].map { $0 + move } ?? move
                // One step from zero already has norm ≤ γ‖w_l‖; later ones are projected back.
                let length = norm(updated)
                if length > radius { updated = updated * (radius / length) }
                perturbation[path] = updated
            }
        }
        return perturbation
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let natural = batch.inputs.detached
        let labels = batch.labels
        let adversarial = adversarialExamples(for: natural, labels: labels, against: model, using: &generator)
        guard isPerturbing else {
            return descend(&model, optimizer: &optimizer, labels: labels) { model in
                loss(of: &model, naturalInputs: natural, adversarialInputs: adversarial, labels: labels)
            }
        }
        guard let perturbation = weightPerturbation(of: model, naturalInputs: natural, adversarialInputs: adversarial, labels: labels) else {
            // Still through the optimizer, so that the processes of a data-parallel run agree to skip.
            _ = optimizer.update(&model, along: Gradients(), ifFinite: false)
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        var perturbed = model.adding(perturbation)
        var logits = Tensor(0)
        let (value, gradients) = valueWithGradient(at: &perturbed) { perturbed in
            let (value, reported) = loss(of: &perturbed, naturalInputs: natural, adversarialInputs: adversarial, labels: labels)
            logits = reported
            return value
        }
        // v removed exactly: the original weights, with the state the perturbed pass updated.
        let original = model.parameters
        perturbed.visitParameters { path, tensor in
            if perturbation[path] != nil, let weights = original[path] { tensor = weights }
        }
        // Non-finite values must not reach the weights; the trainer stops on a non-finite loss.
        guard optimizer.update(&perturbed, along: gradients, ifFinite: value.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        model = perturbed
        return StepMetrics(loss: value.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}

extension Layer {
    /// A copy with `perturbation[path]` added to each parameter it names.
    fileprivate func adding(_ perturbation: [String: Tensor]) -> Self {
        guard !perturbation.isEmpty else { return self }
        var copy = self
        copy.visitParameters { path, tensor in
            if let change = perturbation[path] { tensor = tensor.detached + change }
        }
        return copy
    }
}

/// The L2 norm of all scalars, accumulated in Float64.
private func norm(_ tensor: Tensor) -> Float {
    var total = 0.0
    for value in tensor.array { total += Double(value) * Double(value) }
    return Float(total.squareRoot())
}
