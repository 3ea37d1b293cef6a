import BulwarkAttacks
import Foundation

// How people write values: budgets as fractions of pixel levels, norms as other libraries
// name them.

extension Float {
    /// The finite number `text` writes as a decimal (`0.03`) or as a fraction (`8/255`, as
    /// pixel budgets are usually given); `nil` for anything else.
    public init?(decimalOrFraction text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let value = Float(text), value.isFinite else { return nil }
            self = value
        case 2:
            guard let numerator = Float(parts[0]), let denominator = Float(parts[1]), denominator != 0,
                  (numerator / denominator).isFinite else { return nil }
            self = numerator / denominator
        default:
            return nil
        }
    }
}

extension Norm {
    /// The norm `name` spells: `linf` or `l2` in any case, or as torchattacks and AutoAttack
    /// write them (`Linf`, `L2`, `inf`, `l-inf`, `linfinity`); `nil` for any other name.
    public init?(spelling name: String) {
        switch name.lowercased() {
        case "linf", "inf", "l-inf", "linfinity": self = .lInfinity
        case "l2": self = .l2
        default: return nil
        }
    }
}

extension EvaluationConfiguration {
    /// The budgets of a robustness curve written as a comma-separated `list`, each a decimal or
    /// a fraction (`0,4/255,8/255`).
    ///
    /// - Throws: ``ConfigurationError`` naming ``epsilons`` and the first entry that is not
    ///   a non-negative number.
    public static func budgets(in list: String) throws(ConfigurationError) -> [Float] {
        try list.split(separator: ",").map { (text) throws(ConfigurationError) in
            guard let value = Float(decimalOrFraction: String(text)), value >= 0 else {
                throw ConfigurationError("`epsilons`: '\(text)' is not a non-negative number or fraction")
            }
            return value
        }
    }
}

extension TextEvaluationConfiguration {
    /// The radii written as a comma-separated `list` of numbers (`0.5,1,2`).
    ///
    /// - Throws: ``ConfigurationError`` naming ``epsilons`` when an entry is not a number.
    public static func radii(in list: String) throws(ConfigurationError) -> [Float] {
        let entries = list.split(separator: ",")
        let radii = entries.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        try require(radii.count == entries.count, "`epsilons` must be numbers separated by commas, such as 0.5,1,2")
        return radii
    }
}

extension TextTrainingConfiguration {
    /// The TextCNN filter widths written as a comma-separated `list` (`3,4,5`); none when an
    /// entry is not an integer, which ``validate()`` refuses.
    public static func widths(in list: String) -> [Int] {
        let entries = list.split(separator: ",")
        let widths = entries.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return widths.count == entries.count ? widths : []
    }
}
