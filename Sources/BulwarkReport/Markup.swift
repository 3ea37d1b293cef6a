/// `text` with the characters that are special in XML and HTML replaced by references, safe
/// in element content and in double-quoted attributes.
package func escapeMarkup(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.append(character)
        }
    }
    return escaped
}

/// A number for SVG coordinates: two decimals, no trailing zeros, never exponent notation.
package func coordinate(_ value: Double) -> String {
    // Far outside any drawing; keeps absurd data (a diverged loss of 1e30) from trapping.
    guard value.isFinite else { return "0" }
    let rounded = (Swift.min(Swift.max(value, -1e9), 1e9) * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    var text = String(rounded)
    if text.contains("e") { text = "0" }
    return text
}
