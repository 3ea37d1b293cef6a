import BulwarkCore
import BulwarkNN

/// A warning sign in a robustness evaluation, most often of gradient masking: a model that
/// hides its gradients looks robust to gradient attacks without being robust (Athalye,
/// Carlini and Wagner 2018, "Obfuscated gradients give a false sense of security"; the
/// checklist of Carlini et al. 2019, "On evaluating adversarial robustness").
public struct SanityFlag: Sendable, Codable, Equatable {
    /// The kinds of warning.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Input gradients contain NaN or infinity.
        case nonFiniteGradients = "non_finite_gradients"
        /// Input gradients are exactly zero for many examples.
        case zeroGradients = "zero_gradients"
        /// Accuracy under an attack exceeds clean accuracy.
        case robustAboveClean = "robust_above_clean"
        /// A one-step attack did better than an iterative one.
        case fgsmStrongerThanPGD = "fgsm_stronger_than_pgd"
        /// A score-based black-box attack did better than the gradient attacks.
        case blackBoxStrongerThanWhiteBox = "black_box_stronger_than_white_box"
        /// The loss did not rise over PGD's steps.
        case lossNotIncreasing = "loss_not_increasing"
        /// Accuracy stays well above zero under a budget that should break any classifier.
        case largeEpsilonNotBreaking = "large_epsilon_not_breaking"
    }

    /// What was seen.
    public var kind: Kind
    /// The measurement, in words.
    public var message: String
    /// What it means and what to try.
    public var advice: String
}

/// Looks for the signs of an unreliable evaluation on `inputs` (one batch is enough) and in
/// `report`.
///
/// Checks: non-finite or zero input gradients of the cross-entropy; any attack's accuracy
/// above clean; FGSM stronger than PGD and Square (black-box) stronger than every gradient
/// attack, by more than 1% of the examples; the mean PGD-20 loss not rising from the first
/// step to the last; accuracy above 10% under PGD-20 at a budget that destroys the input
/// (ε = 0.5 in L∞, ε = 10 in L2, in [0, 1] pixel space).
///
/// `progress` is called with the steps done of ``sanityCheckSteps`` (the gradient, then each
/// step of the two PGD-20 runs).
public func sanityFlags<Model: Layer, G: RandomNumberGenerator>(
    for report: RobustnessReport, model: Model, inputs: Tensor, labels: [Int32], using generator: inout G,
    progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
) -> [SanityFlag] {
    var flags = [SanityFlag]()
    var model = model.with(mode: .inference)
    let threatModel = report.threatModel

    let gradient = BulwarkCore.gradient(at: inputs) { x in
        softmaxCrossEntropy(logits: model(x), labels: labels, reduction: .sum)
    }
    var stepsDone = 1
    progress(stepsDone, sanityCheckSteps)
    if !gradient.isFinite {
        flags.append(SanityFlag(
            kind: .nonFiniteGradients, message: "the input gradient of the loss contains NaN or infinity",
            advice: "Attacks step along NaN and learn nothing. Look for log(0) or division by zero in the model (for example softmax outputs fed to a log), and evaluate on logits."))
    }
    let perExample = threatModel.norms(of: gradient)
    let zero = perExample.filter { $0 == 0 }.count
    if zero * 10 > perExample.count {
        flags.append(SanityFlag(
            kind: .zeroGradients, message: "the input gradient is exactly zero for \(zero) of \(perExample.count) examples",
            advice: "Gradient attacks cannot move these inputs, so their robust accuracy is meaningless. A saturated softmax, a non-differentiable layer or a detached input masks gradients; use the margin loss, a black-box attack (Square) or remove the masking."))
    }
    for attack in report.attacks where attack.adversarialAccuracy > report.cleanAccuracy + 0.005 {
        flags.append(SanityFlag(
            kind: .robustAboveClean,
            message: "accuracy under \(attack.name) (\(percentText(attack.adversarialAccuracy))) is above clean accuracy (\(percentText(report.cleanAccuracy)))",
            advice: "An attack should never help the model; it is not finding the loss's ascent direction. Check for gradient masking and for randomness in the model."))
    }
    let tolerance = Float(0.01)
    if report.strategy == .independent,
       let fgsm = report.attacks.first(where: { $0.name == "fgsm" }),
       let pgd = report.attacks.first(where: { $0.name == "pgd" }),
       fgsm.robustAccuracy + tolerance < pgd.robustAccuracy {
        flags.append(SanityFlag(
            kind: .fgsmStrongerThanPGD,
            message: "FGSM leaves \(percentText(fgsm.robustAccuracy)) robust, fewer than PGD's \(percentText(pgd.robustAccuracy))",
            advice: "Iterative attacks should be at least as strong as one step. PGD's step size may be too small or its loss surface is masked locally; try more steps, restarts, a larger step or APGD."))
    }
    let whiteBox = report.attacks.filter { $0.name != "square" }
    if report.strategy == .independent, let square = report.attacks.first(where: { $0.name == "square" }),
       let strongest = whiteBox.map(\.robustAccuracy).min(), square.robustAccuracy + tolerance < strongest {
        flags.append(SanityFlag(
            kind: .blackBoxStrongerThanWhiteBox,
            message: "Square (no gradients) leaves \(percentText(square.robustAccuracy)) robust, fewer than the best gradient attack's \(percentText(strongest))",
            advice: "With access to gradients an attack should do at least as well as without. The gradients are probably masked; trust the black-box number and fix the model's gradients."))
    }

    var losses = [Float]()
    let probe = IterativeAttack(
        threatModel: threatModel, steps: 20, stepSize: 2.5 * threatModel.epsilon / 20, randomStart: false, restarts: 1,
        loss: .crossEntropy, objective: .untargeted, direction: .steepestAscent)
    let adversarial = withoutActuallyEscaping(progress) { progress in
        probe.run(inputs, labels: labels, model: model, using: &generator) { _, loss in
            losses.append(loss)
            stepsDone += 1
            progress(stepsDone, sanityCheckSteps)
        }
    }
    let finalLoss = softmaxCrossEntropy(logits: model(adversarial), labels: labels).scalar
    if let first = losses.first, threatModel.epsilon > 0, !(finalLoss > first + 1e-4) {
        flags.append(SanityFlag(
            kind: .lossNotIncreasing,
            message: String(format: "the mean PGD-20 loss went from %.4f to %.4f", Double(first), Double(finalLoss)),
            advice: "Projected gradient ascent should raise the loss it ascends. Flat or falling loss means the gradient does not point uphill: gradient masking, a too large step, or a bug in the model's backward pass."))
    }

    let large = ThreatModel(norm: threatModel.norm, epsilon: threatModel.norm == .lInfinity ? 0.5 : 10, bounds: threatModel.bounds)
    let destroyed = withoutActuallyEscaping(progress) { progress in
        IterativeAttack(
            threatModel: large, steps: 20, stepSize: 2.5 * large.epsilon / 20, randomStart: true, restarts: 1,
            loss: .crossEntropy, objective: .untargeted, direction: .steepestAscent
        ).run(inputs, labels: labels, model: model, using: &generator) { _, _ in
            stepsDone += 1
            progress(stepsDone, sanityCheckSteps)
        }
    }
    let largeAccuracy = accuracy(logits: model(destroyed), labels: labels)
    if largeAccuracy > 0.1 {
        flags.append(SanityFlag(
            kind: .largeEpsilonNotBreaking,
            message: "PGD-20 at ε = \(large.epsilon) (\(large.norm.rawValue)) leaves \(percentText(largeAccuracy)) accuracy",
            advice: "A budget this large can turn any input into another class, so accuracy should reach about 0. If it does not, the attack is blind: gradients are masked or the attack is misconfigured."))
    }
    return flags
}

/// The steps ``sanityFlags(for:model:inputs:labels:using:progress:)`` reports: the input
/// gradient and the 20 steps of each of its two PGD runs.
public let sanityCheckSteps = 41

private func percentText(_ value: Float) -> String {
    String(Double(Int((Double(value) * 10000).rounded())) / 100) + "%"
}
