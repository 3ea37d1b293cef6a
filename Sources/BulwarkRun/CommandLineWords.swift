import Foundation

// The words of a command line as a front end receives them and as a run manifest records
// them, and the paths it records.

/// `arguments` with every negative number that follows an option attached to it
/// (`--count -1` becomes `--count=-1`), so that it is read as the option's value and checked
/// against the option's range rather than taken for an unknown short option.
public func attachingNegativeValues(_ arguments: [String]) -> [String] {
    var (result, index) = ([String](), 0)
    while index < arguments.count {
        let (word, next) = (arguments[index], index + 1 < arguments.count ? arguments[index + 1] : nil)
        let attaches = word.hasPrefix("--") && !word.contains("=") && next.map(isNegativeNumber) == true
        result.append(attaches ? word + "=" + next! : word)
        index += attaches ? 2 : 1
    }
    return result
}

private func isNegativeNumber(_ word: String) -> Bool {
    word.hasPrefix("-") && word.dropFirst().first.map { $0.isNumber || $0 == "." } == true
}

/// `word` quoted for a POSIX shell when it needs to be (as the command a run manifest records
/// writes its words; ``TrainingManifest`` reads them back).
package func shellQuoted(_ word: String) -> String {
    let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !word.isEmpty, word.unicodeScalars.allSatisfy(plain.contains) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// `path` made absolute against the current directory, without `.` and `..`.
package func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}
