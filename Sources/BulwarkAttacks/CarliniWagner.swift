import BulwarkCore
import BulwarkNN
import Foundation

/// The Carlini–Wagner L2 attack (Carlini and Wagner, IEEE S&P 2017, "Towards evaluating the
/// robustness of neural networks"), untargeted: a minimum-norm attack that optimizes the
/// perturbation's squared L2 norm plus a weighted margin term with Adam.
///
/// With the paper's symbols: the change of variables `x' = ½(tanh(w) + 1)` (scaled to the
/// threat model's bounds) keeps `x'` in the box; Adam (learning rate ``learningRate``) minimizes
/// over `w`
/// `‖x' − x‖₂² + c · f(x')`, `f(x') = max(Z(x')_t − max_{i≠t} Z(x')_i, −κ)`
/// where `Z` are the logits, `t` the true label (the untargeted form of the paper's `f₆`,
/// implemented as the reference does, `max(Z_t − max_{i≠t} Z_i + κ, 0)`, which differs by the
/// constant κ) and κ the ``confidence``. `c` is found per example by binary search
/// (``binarySearchSteps`` rounds from ``initialConstant``): after a round that found an
/// adversarial example `c` is bisected down, otherwise it is multiplied by 10 until a success
/// bounds it and then bisected up. Every iterate that is adversarial (`argmax` of `Z` with κ
/// added to `Z_t` is not `t`) and smaller than the best so far is kept.
///
/// Defaults follow the reference code (github.com/carlini/nn_robust_attacks, `l2_attack.py`):
/// 9 binary-search steps, initial `c` 1e-3, learning rate 0.01, κ = 0, Adam (β₁ 0.9, β₂ 0.999,
/// ε 1e-8) restarted in every round from `w = arctanh((2x − 1)·0.999999)` (the factor keeps
/// `w` finite at pixels 0 and 1), early abort when the loss has not fallen by 0.01% over a
/// tenth of the iterations.
/// Departures: ``maxIterations`` defaults to 1,000 rather than the reference's 10,000 (the cost
/// is `binarySearchSteps × maxIterations` forward and backward passes; CleverHans also uses
/// 1,000); early abort is decided per example rather than on the batch's summed loss, so an
/// example's result does not depend on its batch; distances are measured to the original
/// input rather than to its tanh reconstruction; an example the attack never fools is
/// returned unchanged (the reference returns zeros); examples misclassified clean are not
/// attacked. The attack is deterministic and draws nothing from the generator.
public struct CarliniWagnerL2: BatchMinimumNormAttack {
    /// An L2 threat model; ε is used only by `perturb`'s projection.
    public var threatModel: ThreatModel
    /// The rounds of the search for `c` (9). With 10 or more, the last round uses the upper
    /// bound of `c`, as in the reference.
    public var binarySearchSteps: Int
    /// The most Adam steps per round (1,000; the reference uses 10,000).
    public var maxIterations: Int
    /// Adam's step size on `w` (0.01).
    public var learningRate: Float
    /// κ, the margin by which the adversarial class must win (0).
    public var confidence: Float
    /// `c` in the first round (1e-3).
    public var initialConstant: Float
    /// Whether a round stops for an example once its loss has not fallen by 0.01% over a
    /// tenth of ``maxIterations``.
    public var abortEarly: Bool
    /// `cw-l2`.
    public var name: String { "cw-l2" }

    /// Creates the attack with the reference's defaults (except ``maxIterations``).
    public init(
        threatModel: ThreatModel, binarySearchSteps: Int = 9, maxIterations: Int = 1000, learningRate: Float = 0.01,
        confidence: Float = 0, initialConstant: Float = 1e-3, abortEarly: Bool = true
    ) {
        precondition(threatModel.norm == .l2, "the Carlini–Wagner L2 attack needs an L2 threat model")
        precondition(binarySearchSteps >= 1 && maxIterations >= 1, "Carlini–Wagner needs at least one round and one iteration")
        precondition(learningRate > 0 && initialConstant > 0 && confidence >= 0,
                     "Carlini–Wagner needs a positive learning rate and constant and a non-negative confidence")
        self.threatModel = threatModel
        self.binarySearchSteps = binarySearchSteps
        self.maxIterations = maxIterations
        self.learningRate = learningRate
        self.confidence = confidence
        self.initialConstant = initialConstant
        self.abortEarly = abortEarly
    }

    /// The smallest adversarial example found per example, before projection onto the ε-ball.
    package func minimumNormPerturbation<Model: Layer>(of batch: MinimumNormBatch<Model>, labels: [Int32]) -> MinimumNormResult {
        let (original, count, size, exampleShape) = (batch.original, batch.count, batch.size, batch.exampleShape)
        var model = batch.model
        let low = threatModel.bounds.lowerBound
        let half = (threatModel.bounds.upperBound - threatModel.bounds.lowerBound) / 2
        let x0 = original.array
        // w₀ = arctanh((2x − 1)·0.999999) in the box's coordinates.
        let w0 = x0.map { Float(atanh(Double(($0 - low) / half - 1) * 0.999999)) }
        let (kappa, rate, beta1, beta2, adamEpsilon): (Float, Float, Float, Float, Float) = (confidence, learningRate, 0.9, 0.999, 1e-8)

        let cleanLogits = model(original)
        let classCount = cleanLogits.shape[1]
        precondition(classCount >= 2, "Carlini–Wagner needs at least two classes")
        let cleanPredictions = predictions(cleanLogits)
        let attacked = (0..<count).filter { cleanPredictions[$0] == labels[$0] }

        var bestSquared = [Float](repeating: .infinity, count: count)
        var best = x0
        var lower = [Double](repeating: 0, count: count)
        var upper = [Double](repeating: 1e10, count: count)
        var constants = [Double](repeating: Double(initialConstant), count: count)
        let checkEvery = Swift.max(maxIterations / 10, 1)

        for round in 0..<binarySearchSteps {
            if binarySearchSteps >= 10 && round == binarySearchSteps - 1 { constants = upper }
            var w = w0
            var m = [Float](repeating: 0, count: count * size)
            var v = [Float](repeating: 0, count: count * size)
            var succeeded = [Bool](repeating: false, count: count)
            var previousLoss = [Float](repeating: .infinity, count: count)
            var active = attacked

            for iteration in 0..<maxIterations {
                if active.isEmpty { break }
                let a = active.count
                var wActive = [Float](), xActive = [Float]()
                wActive.reserveCapacity(a * size)
                xActive.reserveCapacity(a * size)
                for e in active {
                    wActive += w[e * size..<(e + 1) * size]
                    xActive += x0[e * size..<(e + 1) * size]
                }
                let activeLabels = active.map { labels[$0] }
                let target = Tensor(shape: [a] + exampleShape, scalars: xActive)
                let mask = oneHot(activeLabels, classCount: classCount)
                let c = Tensor(shape: [a], scalars: active.map { Float(constants[$0]) })
                var (adversarial, logits, squared, losses) = (Tensor(0), Tensor(0), Tensor(0), Tensor(0))
                let gradient = BulwarkCore.gradient(at: Tensor(shape: [a] + exampleShape, scalars: wActive)) { w in
                    let x = (w.tanh() + 1) * half + low
                    let z = model(x)
                    let distance = (x - target).squared().reshaped(to: [a, size]).sum(alongAxis: 1)
                    let real = (z * mask).sum(alongAxis: 1)
                    let other = (z - mask * 1e9).max(alongAxis: 1)
                    let perExample = distance + c * (real - other + kappa).relu()
                    (adversarial, logits, squared, losses) = (x.detached, z.detached, distance.detached, perExample.detached)
                    return perExample.sum()
                }.array
                let (xValues, zValues, squaredValues, lossValues) = (adversarial.array, logits.array, squared.array, losses.array)

                var stillActive = [Int]()
                stillActive.reserveCapacity(a)
                for (r, e) in active.enumerated() {
                    if abortEarly && iteration % checkEvery == 0 {
                        if lossValues[r] > previousLoss[e] * 0.9999 { continue }
                        previousLoss[e] = lossValues[r]
                    }
                    stillActive.append(e)
                    // Adversarial with confidence κ: the label, raised by κ, is not the argmax.
                    let label = Int(labels[e])
                    var predicted = 0, top = -Float.infinity
                    for k in 0..<classCount {
                        let value = zValues[r * classCount + k] + (k == label ? kappa : 0)
                        if value > top { top = value; predicted = k }
                    }
                    if predicted != label {
                        succeeded[e] = true
                        if squaredValues[r] < bestSquared[e] {
                            bestSquared[e] = squaredValues[r]
                            best.replaceSubrange(e * size..<(e + 1) * size, with: xValues[r * size..<(r + 1) * size])
                        }
                    }
                    // Adam on w (PyTorch's form of the bias correction).
                    let t = Double(iteration + 1)
                    let correction1 = 1 - Float(pow(Double(beta1), t))
                    let correction2Root = Float((1 - pow(Double(beta2), t)).squareRoot())
                    for i in 0..<size {
                        let (index, g) = (e * size + i, gradient[r * size + i])
                        m[index] = beta1 * m[index] + (1 - beta1) * g
                        v[index] = beta2 * v[index] + (1 - beta2) * g * g
                        w[index] -= (rate / correction1) * m[index] / (v[index].squareRoot() / correction2Root + adamEpsilon)
                    }
                }
                active = stillActive
            }

            for e in attacked {
                if succeeded[e] {
                    upper[e] = Swift.min(upper[e], constants[e])
                    if upper[e] < 1e9 { constants[e] = (lower[e] + upper[e]) / 2 }
                } else {
                    lower[e] = Swift.max(lower[e], constants[e])
                    constants[e] = upper[e] < 1e9 ? (lower[e] + upper[e]) / 2 : constants[e] * 10
                }
            }
        }

        let adversarial = Tensor(shape: original.shape, scalars: best)
        let fooled = zip(predictions(model(adversarial)), labels).map { $0 != $1 }
        return MinimumNormResult(adversarial: adversarial, fooled: fooled, norms: threatModel.norms(of: adversarial - original))
    }
}
