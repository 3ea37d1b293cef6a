import Bulwark
import Testing

/// Checks the tape's gradient of `function` against central finite differences.
///
/// The scalar checked is `Σ function(inputs) ⊙ r` for a fixed random `r`, so every output
/// element takes part. The engine computes in Float32, so each difference quotient
/// `(f(x + h) − f(x − h)) / 2h` is formed in Float64 from Float32 evaluations; with the default
/// `step` of 1e-2 its truncation and rounding errors are near 1e-3 relative, hence the default
/// tolerance: `|analytic − numeric| ≤ tolerance · max(1, |numeric|)` per component.
///
/// Functions with kinks (ReLU, max, clamp, abs) must be checked at inputs at least `step`
/// away from them, which `awayFromKinks` helps build.
public func expectGradientMatchesFiniteDifferences(
    at inputs: [Tensor], step: Float = 1e-2, tolerance: Double = 1e-2, seed: UInt64 = 7,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ function: @escaping ([Tensor]) -> Tensor
) {
    var generator = SplitMix64(seed: seed)
    let probeShape = function(inputs).shape
    let projection = Tensor(randomUniform: probeShape, in: -1...1, using: &generator)
    let scalarFunction: ([Tensor]) -> Tensor = { (function($0) * projection).sum() }
    let (_, analytic) = valueWithGradient(at: inputs, of: scalarFunction)
    for (position, input) in inputs.enumerated() {
        #expect(analytic[position].shape == input.shape, "gradient \(position) has the wrong shape", sourceLocation: sourceLocation)
        var worst = 0.0, worstIndex = -1, worstPair = (0.0, 0.0)
        for index in 0..<input.scalarCount {
            func evaluate(_ offset: Float) -> Double {
                var shifted = inputs
                var scalars = input.array
                scalars[index] += offset
                shifted[position] = Tensor(shape: input.shape, scalars: scalars)
                return Double(scalarFunction(shifted).scalar)
            }
            let numeric = (evaluate(step) - evaluate(-step)) / (2 * Double(step))
            let value = Double(analytic[position].array[index])
            let error = Swift.abs(value - numeric) / Swift.max(1, Swift.abs(numeric))
            if error > worst { worst = error; worstIndex = index; worstPair = (value, numeric) }
        }
        #expect(
            worst <= tolerance,
            "input \(position): analytic \(worstPair.0) vs numeric \(worstPair.1) at scalar \(worstIndex) (relative error \(worst))",
            sourceLocation: sourceLocation)
    }
}

/// A seeded tensor with scalars in `range` whose magnitudes are at least `margin`, so that
/// finite differences never straddle the kink of ReLU, abs or sign at zero.
public func awayFromKinks(_ shape: [Int], in range: ClosedRange<Float> = -1...1, margin: Float = 0.05, seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        let value = range.lowerBound + (range.upperBound - range.lowerBound) * generator.nextUnitFloat()
        return Swift.abs(value) < margin ? (value < 0 ? -margin : margin) * 2 : value
    }
    return Tensor(shape: shape, scalars: values)
}

/// A seeded uniform tensor.
public func seededTensor(_ shape: [Int], in range: ClosedRange<Float> = -1...1, seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed)
    return Tensor(randomUniform: shape, in: range, using: &generator)
}

/// A seeded tensor whose scalars are distinct multiples of `spacing` in shuffled order, for
/// checking max-like operations where finite differences must not swap the winner.
public func distinctValues(_ shape: [Int], spacing: Float = 0.05, seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let count = shape.reduce(1, *)
    let values = (0..<count).map { Float($0 - count / 2) * spacing + spacing / 2 }.shuffled(seededBy: &generator)
    return Tensor(shape: shape, scalars: values)
}

/// Checks the double backward of `function` against central finite differences.
///
/// The inner scalar is `s = Σ function(inputs) ⊙ p` for a fixed random `p`; its gradient with
/// respect to `inputs[0]` is taken with ``valueWithDifferentiableGradient(at:on:of:)``, and
/// ``expectGradientMatchesFiniteDifferences(at:step:tolerance:seed:sourceLocation:_:)`` checks the
/// gradient of `∇_{inputs[0]} s` with respect to every input (second derivatives, including
/// the Hessian block of `inputs[0]`): analytically from the tape's double backward, numerically
/// from differences of ordinary first-order gradients.
public func expectSecondDerivativesMatchFiniteDifferences(
    at inputs: [Tensor], step: Float = 1e-2, tolerance: Double = 1e-2, seed: UInt64 = 7,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ function: @escaping ([Tensor]) -> Tensor
) {
    var generator = SplitMix64(seed: seed &+ 1)
    let probe = Tensor(randomUniform: function(inputs).shape, in: -1...1, using: &generator)
    expectGradientMatchesFiniteDifferences(at: inputs, step: step, tolerance: tolerance, seed: seed, sourceLocation: sourceLocation) { inputs in
        let tape = inputs.lazy.compactMap { $0.trace?.tape }.first
        return valueWithDifferentiableGradient(at: inputs[0], on: tape) { first in
            (function([first] + inputs.dropFirst()) * probe).sum()
        }.gradient
    }
}
