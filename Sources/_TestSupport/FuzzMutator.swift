import Bulwark
import Foundation

/// A seeded mutator of byte strings for fuzzing readers: each ``mutate(_:)`` applies one to
/// four random edits — bit flips, bytes set to interesting values (0, 0x7F, 0x80, 0xFF),
/// truncation, insertion and deletion of runs, a 32- or 64-bit field overwritten with a huge
/// value in either byte order, and chunk duplication — drawn from a SplitMix64 generator, so a
/// run is reproducible from its seed.
public struct FuzzMutator {
    private var generator: SplitMix64

    /// A mutator whose edits are drawn from `SplitMix64(seed: seed)`.
    public init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    /// A random integer in `0..<bound`; `bound` must be positive.
    public mutating func below(_ bound: Int) -> Int {
        Int(generator.next() % UInt64(bound))
    }

    /// `input` with one to four random edits applied.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0...below(4) { edit(&bytes) }
        return bytes
    }

    private mutating func edit(_ bytes: inout [UInt8]) {
        let interesting: [UInt8] = [0, 0x7F, 0x80, 0xFF, 0x01, 0x0A, 0x22, 0x2C, 0x09]
        let huge: [UInt64] = [0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 1 << 40, 0]
        guard !bytes.isEmpty else {
            bytes = (0..<below(16)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            return
        }
        let position = below(bytes.count)
        switch below(8) {
        case 0:
            bytes[position] ^= 1 << UInt8(below(8))
        case 1:
            bytes[position] = interesting[below(interesting.count)]
        case 2:
            bytes.removeLast(below(bytes.count) + 1)
        case 3:
            let run = (0..<(below(8) + 1)).map { _ in below(2) == 0 ? interesting[below(interesting.count)] : UInt8(truncatingIfNeeded: generator.next()) }
            bytes.insert(contentsOf: run, at: position)
        case 4:
            bytes.removeSubrange(position..<min(bytes.count, position + below(16) + 1))
        case 5:
            let value = huge[below(huge.count)]
            let width = below(2) == 0 ? 4 : 8
            let bigEndian = below(2) == 0
            for offset in 0..<width where position + offset < bytes.count {
                let shift = UInt64(8 * (bigEndian ? width - 1 - offset : offset))
                bytes[position + offset] = UInt8(truncatingIfNeeded: value >> shift)
            }
        case 6:
            let end = min(bytes.count, position + below(64) + 1)
            bytes.insert(contentsOf: bytes[position..<end], at: below(bytes.count + 1))
        default:
            bytes[position] = UInt8(truncatingIfNeeded: generator.next())
        }
    }
}

/// The fuzzers' budget and seed: the test suite's fixed defaults, or for a longer search
/// `BULWARK_FUZZ_SCALE` (a multiplier of the iteration counts) and `BULWARK_FUZZ_SEED` (mixed
/// into every fuzzer's seed) from the environment.
public enum FuzzBudget {
    /// `iterations` times `BULWARK_FUZZ_SCALE` (1 when unset).
    public static func scaled(_ iterations: Int) -> Int {
        let scale = ProcessInfo.processInfo.environment["BULWARK_FUZZ_SCALE"].flatMap(Int.init) ?? 1
        return iterations * Swift.max(scale, 1)
    }

    /// `seed` mixed with `BULWARK_FUZZ_SEED` (unchanged when unset).
    public static func seed(_ seed: UInt64) -> UInt64 {
        let extra = ProcessInfo.processInfo.environment["BULWARK_FUZZ_SEED"].flatMap(UInt64.init) ?? 0
        return seed ^ (extra &* 0x9E37_79B9_7F4A_7C15)
    }
}
