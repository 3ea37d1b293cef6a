import BulwarkCore

/// How a per-example loss is reduced over the batch.
public enum Reduction: Sendable {
    /// The average over examples.
    case mean
    /// The sum over examples.
    case sum
    /// One loss per example, shape `[N]`.
    case none
}

/// One-hot rows `[labels.count, classCount]` for `labels`.
public func oneHot(_ labels: [Int32], classCount: Int) -> Tensor {
    precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classCount }, "labels must be in 0..<\(classCount)")
    var scalars = [Float](repeating: 0, count: labels.count * classCount)
    for (row, label) in labels.enumerated() { scalars[row * classCount + Int(label)] = 1 }
    return Tensor(shape: [labels.count, classCount], scalars: scalars)
}

/// Softmax cross-entropy `log Σⱼ exp(zⱼ) − z_y` of logits `[N, K]` against integer labels,
/// computed through log-sum-exp so that large logits do not overflow; PyTorch's
/// `F.cross_entropy`.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int32], reduction: Reduction = .mean) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "cross-entropy needs logits [N, K] for N = \(labels.count) labels, got \(logits.shape)")
    let picked = (logits * oneHot(labels, classCount: logits.shape[1])).sum(alongAxis: 1)
    return reduce(logits.logSumExp(alongAxis: 1) - picked, reduction)
}

/// Log-probabilities `z − log Σ exp(z)` along the last axis.
public func logSoftmax(_ logits: Tensor) -> Tensor {
    logits - logits.logSumExp(alongAxis: -1, keepingDims: true)
}

/// Probabilities along the last axis.
public func softmax(_ logits: Tensor) -> Tensor {
    logSoftmax(logits).exp()
}

/// Kullback–Leibler divergence `KL(p ‖ q) = Σ p (log p − log q)` per example between the
/// softmax of `targetLogits` (p) and of `logits` (q), as TRADES uses it; PyTorch's
/// `F.kl_div(F.log_softmax(logits), F.softmax(targetLogits))` summed over classes.
///
/// - Parameter detachingTarget: whether p is treated as given (no gradient flows into
///   `targetLogits`), as in TRADES's inner maximization; `false` differentiates through both
///   arguments, as TRADES's outer minimization does.
public func klDivergence(
    logits: Tensor, targetLogits: Tensor, reduction: Reduction = .mean, detachingTarget: Bool = true
) -> Tensor {
    let targetLog = logSoftmax(detachingTarget ? targetLogits.detached : targetLogits)
    let perExample = (targetLog.exp() * (targetLog - logSoftmax(logits))).sum(alongAxis: 1)
    return reduce(perExample, reduction)
}

func reduce(_ perExample: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .mean: perExample.mean()
    case .sum: perExample.sum()
    case .none: perExample
    }
}

/// The predicted class of each row of logits `[N, K]`.
public func predictions(_ logits: Tensor) -> [Int32] {
    logits.argmax(alongAxis: 1).map { Int32($0) }
}

/// The fraction of rows of `logits` whose largest entry is at the label.
public func accuracy(logits: Tensor, labels: [Int32]) -> Float {
    guard !labels.isEmpty else { return 0 }
    let correct = zip(predictions(logits), labels).filter { $0 == $1 }.count
    return Float(correct) / Float(labels.count)
}
