import Foundation

/// A learning rate as a function of training progress, evaluated before every batch.
///
/// Progress is measured in fractional epochs, `epoch + batch / batchesPerEpoch`, so every
/// schedule is updated per batch, as Fast-AT's cyclic schedule requires.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The same rate throughout.
    case constant(Float)
    /// `rates[i]` from epoch `boundaries[i − 1]` (0 for i = 0) until `boundaries[i]`;
    /// `rates.count == boundaries.count + 1`. Example: 0.1, 0.01, 0.001 with boundaries at
    /// epochs 100 and 150 (Madry et al.; Rice et al.).
    case piecewise(rates: [Float], boundaries: [Double])
    /// A triangle rising linearly from 0 to `peak` at `peakFraction` of training and falling
    /// back to 0 at the end, the one-cycle schedule of Fast-AT (Wong, Rice and Kolter 2020;
    /// Smith and Topin 2019).
    case cyclic(peak: Float, peakFraction: Double)
    /// Cosine annealing from `peak` to `minimum` over training (Loshchilov and Hutter 2017).
    case cosine(peak: Float, minimum: Float)

    /// The rate at fractional epoch `epoch` of a run of `totalEpochs` epochs.
    public func learningRate(atEpoch epoch: Double, of totalEpochs: Int) -> Float {
        let total = Double(Swift.max(totalEpochs, 1))
        let progress = Swift.min(Swift.max(epoch / total, 0), 1)
        switch self {
        case .constant(let rate):
            return rate
        case .piecewise(let rates, let boundaries):
            precondition(rates.count == boundaries.count + 1, "piecewise schedule needs one more rate than boundaries")
            let index = boundaries.firstIndex(where: { epoch < $0 }) ?? boundaries.count
            return rates[index]
        case .cyclic(let peak, let peakFraction):
            if progress <= peakFraction {
                return peakFraction > 0 ? peak * Float(progress / peakFraction) : peak
            }
            return peak * Float(Swift.max(0, (1 - progress) / (1 - peakFraction)))
        case .cosine(let peak, let minimum):
            return minimum + (peak - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
