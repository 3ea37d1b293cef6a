// The words of a command line as a front end receives them.

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
