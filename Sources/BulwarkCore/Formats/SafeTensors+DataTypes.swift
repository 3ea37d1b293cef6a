#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Data types

extension SafeTensorsFile {
    /// The `dtype`s Bulwark reads, with their element sizes and conversions to `Float`.
    enum DataType: String {
        case float32 = "F32"
        case float64 = "F64"
        case float16 = "F16"
        case bfloat16 = "BF16"
        case int64 = "I64"
        case int32 = "I32"
        case uint8 = "U8"

        /// Bytes per element.
        var byteWidth: Int {
            switch self {
            case .uint8: return 1
            case .float16, .bfloat16: return 2
            case .float32, .int32: return 4
            case .float64, .int64: return 8
            }
        }

        /// Converts `count` little-endian elements in `bytes` to `Float`.
        ///
        /// - Precondition: `bytes.count == count * byteWidth` (checked by the caller).
        func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
            switch self {
            case .float32:
                #if _endian(little)
                return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                    if count > 0, let base = destination.baseAddress {
                        UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress ?? UnsafeRawPointer(base), byteCount: 4 * count)
                    }
                    initialized = count
                }
                #else
                return Self.map(bytes, count: count, as: UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
                #endif
            case .float64:
                return Self.map(bytes, count: count, as: UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            case .float16:
                return Self.map(bytes, count: count, as: UInt16.self) { halfToFloat(UInt16(littleEndian: $0)) }
            case .bfloat16:
                return Self.map(bytes, count: count, as: UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
            case .int64:
                return Self.map(bytes, count: count, as: Int64.self) { Float(Int64(littleEndian: $0)) }
            case .int32:
                return Self.map(bytes, count: count, as: Int32.self) { Float(Int32(littleEndian: $0)) }
            case .uint8:
                return Self.map(bytes, count: count, as: UInt8.self) { Float($0) }
            }
        }

        private static func map<Element: FixedWidthInteger>(
            _ bytes: UnsafeRawBufferPointer, count: Int, as type: Element.Type, _ convert: (Element) -> Float
        ) -> [Float] {
            let width = MemoryLayout<Element>.size
            return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                for index in 0..<count {
                    destination[index] = convert(bytes.loadUnaligned(fromByteOffset: index * width, as: Element.self))
                }
                initialized = count
            }
        }
    }
}

/// Converts IEEE-754 binary16 bits to `Float` exactly (every half value is a `Float`).
///
/// Written out rather than using `Float16`, which is unavailable on macOS on Intel.
private func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let fraction = UInt32(bits & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: fraction × 2^-24.
        return sign * Float(fraction) * Float(sign: .plus, exponent: -24, significand: 1)
    case 0x1F:
        // Infinity or NaN; keep the NaN payload in the high fraction bits.
        let signBit = UInt32(bits & 0x8000) << 16
        return Float(bitPattern: signBit | 0x7F80_0000 | (fraction << 13))
    default:
        let signBit = UInt32(bits & 0x8000) << 16
        return Float(bitPattern: signBit | (UInt32(exponent + 112) << 23) | (fraction << 13))
    }
}
