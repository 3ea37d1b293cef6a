import Foundation

/// An axis range with "nice" tick values (1, 2 or 5 times a power of ten), after Heckbert's
/// "Nice numbers for graph labels" (Graphics Gems, 1990).
public struct AxisScale: Sendable, Equatable {
    /// The lowest value of the axis, a multiple of ``step``.
    public let lower: Double
    /// The highest value of the axis, a multiple of ``step``.
    public let upper: Double
    /// The distance between ticks.
    public let step: Double

    /// The smallest nice range covering `values` with about `targetTickCount` ticks.
    ///
    /// Non-finite values are ignored; an empty or constant input gets a range around its value
    /// (or 0…1). With `integral`, the step is at least 1 (epochs).
    public init<Values: Sequence>(covering values: Values, targetTickCount: Int = 6, integral: Bool = false)
    where Values.Element == Double {
        let finite = values.filter(\.isFinite)
        var minimum = finite.min() ?? 0
        var maximum = finite.max() ?? 1
        if maximum - minimum <= Swift.max(abs(maximum), 1) * 1e-12 {
            let pad = minimum == 0 ? 1 : abs(minimum) * 0.1
            minimum -= pad
            maximum += pad
        }
        let range = Self.niceNumber(maximum - minimum, rounding: false)
        var step = Self.niceNumber(range / Double(Swift.max(targetTickCount - 1, 1)), rounding: true)
        if integral { step = Swift.max(step.rounded(), 1) }
        // The tolerance keeps Float data such as 0.2 (0.2000000029 as a Double) off the next tick.
        lower = (minimum / step + 1e-6).rounded(.down) * step
        upper = (maximum / step - 1e-6).rounded(.up) * step
        self.step = step
    }

    /// A fixed range with a nice step inside it.
    public init(from lower: Double, to upper: Double, targetTickCount: Int = 6) {
        precondition(upper > lower, "the range must not be empty")
        self.lower = lower
        self.upper = upper
        step = Self.niceNumber((upper - lower) / Double(Swift.max(targetTickCount - 1, 1)), rounding: true)
    }

    /// The tick values from ``lower`` to ``upper``, computed from integers so that rounding
    /// errors do not accumulate.
    public var ticks: [Double] {
        let first = (lower / step).rounded(.up)
        let last = (upper / step + 1e-9).rounded(.down)
        // A degenerate scale (data spanning ±1e308 overflows the range) gets no ticks rather
        // than billions.
        guard first <= last, last - first <= 1000 else { return [] }
        // Dividing by a power of ten rounds 3 × 0.2 to 0.6, not 0.6000000000000001.
        let exponent = log10(step).rounded(.down)
        let mantissa = (step / pow(10, exponent)).rounded()
        return stride(from: first, through: last, by: 1).map { index in
            exponent < 0 ? index * mantissa / pow(10, -exponent) : index * mantissa * pow(10, exponent)
        }
    }

    /// The digits after the decimal point that tell ticks apart.
    public var fractionDigits: Int { Swift.max(0, Int(-log10(step).rounded(.down))) }

    /// A tick label: fixed-point for ordinary steps, scientific for tiny or huge ones.
    public func label(_ value: Double, asPercent: Bool = false) -> String {
        if asPercent {
            let digits = Swift.max(0, fractionDigits - 2)
            return String(format: "%.\(digits)f%%", value * 100)
        }
        if value == 0 { return "0" }
        if step < 1e-3 || step >= 1e6 {
            var exponent = Int(log10(abs(value)).rounded(.down))
            var mantissa = value / pow(10, Double(exponent))
            if abs(mantissa) >= 9.95 { (exponent, mantissa) = (exponent + 1, mantissa / 10) }
            return String(format: "%.2g", mantissa) + "e" + String(exponent)
        }
        return String(format: "%.\(fractionDigits)f", value)
    }

    /// 1, 2, 5 or 10 times a power of ten near `value`: the nearest when `rounding`, else the
    /// smallest not below it.
    static func niceNumber(_ value: Double, rounding: Bool) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let exponent = log10(value).rounded(.down)
        let magnitude = pow(10, exponent)
        let fraction = value / magnitude
        let nice: Double = if rounding {
            fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            // A relative tolerance, so that a range of 0.2 read from Float data stays 0.2.
            fraction <= 1 + 1e-6 ? 1 : fraction <= 2 + 1e-6 ? 2 : fraction <= 5 + 1e-6 ? 5 : 10
        }
        return nice * magnitude
    }
}
