import BulwarkCore

/// A text classifier with a typed perturbation site: the embedded sequence.
///
/// Running the model is `classify(embed(tokens), mask: paddingMask(tokens))`. Embedding-space
/// attacks and training methods (FGM, PGD on embeddings) add their perturbation to the output
/// of ``embed(_:)`` — per example, only at real tokens — and pass the sum to
/// ``classify(_:mask:)``; no parameter has to be found by name, and the shared embedding
/// matrix itself is never changed by an attack.
///
/// Inputs are `[count, length]` token indices stored as `Float`, padded after each sequence
/// with index 0 (`<pad>`), which no real token uses.
public protocol TextClassifier: Layer {
    /// The token vectors that ``embed(_:)`` looks up. Training methods that perturb the
    /// shared matrix instead of each example's sequence (the variant popular FGM helpers use)
    /// reach it here, by type rather than by parameter name.
    var embedding: Embedding { get set }

    /// The embedded sequence `[count, length, dimension]`, zero at padding positions.
    func embed(_ tokens: Tensor) -> Tensor

    /// Logits `[count, classes]` of an embedded sequence; `mask` is `[count, length]`, 1 at
    /// real tokens and 0 at padding. Padding positions of `embedded` never affect the result.
    mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor
}

extension TextClassifier {
    /// Logits `[count, classes]` of `[count, length]` token indices.
    public mutating func callAsFunction(_ tokens: Tensor) -> Tensor {
        classify(embed(tokens), mask: paddingMask(tokens))
    }
}

/// `[count, length]`: 1 where `tokens` holds a real token, 0 at padding (index 0).
public func paddingMask(_ tokens: Tensor) -> Tensor {
    Tensor(shape: tokens.shape, scalars: tokens.array.map { $0 == 0 ? 0 : 1 })
}

/// `embedded` `[count, length, dimension]` with padding positions set to zero (differentiable).
public func maskingPadding(_ embedded: Tensor, mask: Tensor) -> Tensor {
    precondition(embedded.rank == 3 && Array(embedded.shape.prefix(2)) == mask.shape,
                 "embedded \(embedded.shape) and mask \(mask.shape) disagree")
    return embedded * mask.reshaped(to: mask.shape + [1])
}

/// The mean over real tokens of `embedded` `[count, length, dimension]` → `[count, dimension]`
/// (an empty sequence gives zeros).
public func maskedMean(_ embedded: Tensor, mask: Tensor) -> Tensor {
    let lengths = mask.sum(alongAxis: 1, keepingDims: true).detached.array.map { Swift.max($0, 1) }
    let sums = maskingPadding(embedded, mask: mask).sum(alongAxis: 1)
    return sums / Tensor(shape: [lengths.count, 1], scalars: lengths)
}
