import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// FreeLB (Zhu, Cheng, Gan, Sun, Goldstein and Liu 2020, "FreeLB: Enhanced Adversarial
/// Training for Natural Language Understanding", ICLR), Algorithm 1.
///
/// Per batch, with `X` the embedded sequence and `m` the padding mask:
/// - `δ₀ = U(−1, 1) ⊙ m · initialMagnitude / √(L·D)` per example (`L` its real tokens, `D` the
///   embedding dimension), or zero when `initialMagnitude` is 0;
/// - for `t = 1 … K` (``steps``): one forward and backward pass at `X + δ_{t−1}` gives both
///   `∇_θ L` — accumulated as `g_t = g_{t−1} + (1/K) ∇_θ L` — and `g_adv = ∇_δ L`, then
///   `δ_t = Π(δ_{t−1} + α · g_adv/‖g_adv‖₂)` per example over real tokens (`α` = ``stepSize``;
///   `Π` projects onto the L2 ball of radius ``maximumNorm``, or is the identity when it is `nil`);
/// - the optimizer takes one step along `g_K`, the average of the `K` parameter gradients.
///
/// Dropout masks are the same in all `K` passes of a batch (each pass starts from the same
/// copy of the model, generator included), as the paper requires so that the accumulated
/// gradients belong to one network; the model's generator then advances once.
///
/// With ``PerturbationSite/embeddingMatrix`` `δ` perturbs the shared embedding matrix instead:
/// `δ₀ = U(−1, 1) · initialMagnitude / √(R·D)` on the `R` rows of the batch's real tokens
/// (zero on every other row), each pass runs at the matrix `W + δ_{t−1}` (restored afterwards),
/// `g_adv = ∇_W L`, and the step and the projection use the Frobenius norm over the whole
/// matrix. Only rows of tokens in the batch are perturbed, and the optimizer updates the
/// unperturbed matrix.
public struct FreeLB: TextTrainingMethod {
    public var name: String { "freelb" }
    /// `K`, the number of ascent steps (and of accumulated gradients).
    public var steps: Int
    /// `α`, the L2 length of each ascent step.
    public var stepSize: Float
    /// The scale of the random start (the reference implementation's `adv_init_mag`).
    public var initialMagnitude: Float
    /// The radius ε of the per-example projection, or `nil` for none (`adv_max_norm = 0`).
    public var maximumNorm: Float?
    /// Where `δ` is added; ``maximumNorm`` is per example on the embedded sequence and over
    /// the whole matrix on the embedding matrix.
    public var site: PerturbationSite

    /// Creates the method.
    public init(steps: Int, stepSize: Float, initialMagnitude: Float, maximumNorm: Float? = nil, site: PerturbationSite = .embeddedSequence) {
        precondition(steps >= 1 && stepSize >= 0 && initialMagnitude >= 0, "FreeLB needs K ≥ 1 and non-negative step size and initial magnitude")
        precondition(maximumNorm.map { $0 > 0 } ?? true, "FreeLB's maximumNorm must be positive (nil for no projection)")
        self.steps = steps
        self.stepSize = stepSize
        self.initialMagnitude = initialMagnitude
        self.maximumNorm = maximumNorm
        self.site = site
    }

    /// Runs the `K` passes on `tokens` and returns the accumulated gradients, the
    /// perturbations used and the model whose generator advanced once.
    package func ascend<Model: TextClassifier, G: RandomNumberGenerator>(
        _ model: Model, tokens: Tensor, labels: [Int32], using generator: inout G
    ) -> (gradients: Gradients, perturbations: [Tensor], model: Model, loss: Float, accuracy: Float) {
        let mask = paddingMask(tokens)
        var delta = initialPerturbation(model, tokens: tokens, mask: mask, using: &generator)
        let ball = ThreatModel.embeddedSequence(epsilon: maximumNorm ?? 0)
        let matrixBall = ThreatModel.embeddingMatrix(epsilon: maximumNorm ?? 0)
        var accumulated = [String: Tensor]()
        var perturbations = [Tensor]()
        var (lossSum, accuracy) = (Float(0), Float(0))
        var last = model
        for _ in 0..<steps {
            perturbations.append(delta)
            // Every pass starts from the same model value: the same dropout masks.
            var pass = model
            var logits = Tensor(0)
            let (loss, gradients, deltaGradient) = valueWithGradients(at: &pass, delta) { model, delta in
                logits = switch site {
                case .embeddedSequence: model.classify(model.embed(tokens) + delta, mask: mask)
                case .embeddingMatrix: model.logits(of: tokens, shiftingEmbeddingMatrixBy: delta)
                }
                return softmaxCrossEntropy(logits: logits, labels: labels)
            }
            for (path, gradient) in gradients.tensors {
                let share = gradient / Float(steps)
                accumulated[path] = accumulated[path].map { $0.adding(share) } ?? share.detached
            }
            lossSum += loss.scalar
            accuracy = BulwarkNN.accuracy(logits: logits.detached, labels: labels)
            switch site {
            case .embeddedSequence:
                delta = (delta + stepSize * ball.steepestAscent(along: deltaGradient, mask: mask)).detached
                if maximumNorm != nil { delta = ball.project(delta, mask: mask) }
            case .embeddingMatrix:
                delta = (delta + stepSize * matrixBall.matrixSteepestAscent(along: deltaGradient)).detached
                if maximumNorm != nil { delta = matrixBall.projectMatrix(delta) }
            }
            last = pass
        }
        return (Gradients(accumulated), perturbations, last, lossSum / Float(steps), accuracy)
    }

    /// `δ₀`: zero, or uniform noise of scale `initialMagnitude / √(n·D)` over the `n` real
    /// positions of each example (the sequence) or the `n` rows of the batch's tokens (the matrix).
    private func initialPerturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        _ model: Model, tokens: Tensor, mask: Tensor, using generator: inout G
    ) -> Tensor {
        switch site {
        case .embeddedSequence:
            let (count, length, dimension) = (tokens.shape[0], tokens.shape[1], model.embedding.dimension)
            guard initialMagnitude > 0 else { return Tensor(zeros: [count, length, dimension]) }
            let lengths = mask.sum(alongAxis: 1).array
            let scales = lengths.map { initialMagnitude / (Swift.max($0, 1) * Float(dimension)).squareRoot() }
            let uniform = Tensor(randomUniform: [count, length, dimension], in: -1...1, using: &generator)
            return (uniform * mask.reshaped(to: [count, length, 1]) * Tensor(shape: [count, 1, 1], scalars: scales)).detached
        case .embeddingMatrix:
            let shape = model.embedding.weight.shape
            guard initialMagnitude > 0 else { return Tensor(zeros: shape) }
            let rows = ThreatModel.rows(of: tokens)
            let scale = initialMagnitude / (Float(Swift.max(rows.count, 1)) * Float(shape[1])).squareRoot()
            let uniform = Tensor(randomUniform: shape, in: -1...1, using: &generator)
            return (ThreatModel.restricting(uniform, toRows: rows) * scale).detached
        }
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let result = ascend(model, tokens: batch.inputs, labels: batch.labels, using: &generator)
        var updated = result.model
        guard optimizer.update(&updated, along: result.gradients, ifFinite: result.loss.isFinite && result.gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: batch.count)
        }
        model = updated
        return StepMetrics(loss: result.loss, accuracy: result.accuracy, count: batch.count)
    }
}
