/// A fast, seedable 64-bit generator (Steele, Lea and Flood 2014, "Fast splittable
/// pseudorandom number generators"), the one every random choice in Bulwark takes.
///
/// The same seed gives the same sequence on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The generator's whole state; saving and restoring it resumes the sequence exactly.
    public var state: UInt64

    /// Creates a generator whose sequence is determined by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// Returns the next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A new generator seeded from this one, for an independent stream (a worker, a restart).
    public mutating func split() -> SplitMix64 {
        SplitMix64(seed: next())
    }
}

extension RandomNumberGenerator {
    /// A uniform `Float` in `[0, 1)` with 24 random bits.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    /// A tensor of scalars drawn uniformly from `range`.
    public init<G: RandomNumberGenerator>(
        randomUniform shape: [Int], in range: ClosedRange<Float>, using generator: inout G
    ) {
        let low = range.lowerBound
        let width = range.upperBound - range.lowerBound
        self.init(shape: shape) { buffer in
            for index in buffer.indices { buffer[index] = low + width * generator.nextUnitFloat() }
        }
    }

    /// A tensor of scalars drawn from a normal distribution.
    public init<G: RandomNumberGenerator>(
        randomNormal shape: [Int], mean: Float = 0, standardDeviation: Float = 1, using generator: inout G
    ) {
        self.init(shape: shape) { buffer in
            for index in buffer.indices { buffer[index] = mean + standardDeviation * generator.nextNormal() }
        }
    }
}

extension Array {
    /// The elements in an order drawn with `generator` (Fisher–Yates); deterministic for a seed.
    public func shuffled<G: RandomNumberGenerator>(seededBy generator: inout G) -> [Element] {
        var result = self
        guard result.count > 1 else { return result }
        for index in stride(from: result.count - 1, to: 0, by: -1) {
            let other = Int(generator.next() % UInt64(index + 1))
            result.swapAt(index, other)
        }
        return result
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
