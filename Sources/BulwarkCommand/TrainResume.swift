import ArgumentParser
import Bulwark
import BulwarkCore
import Foundation

// `bulwark train --resume DIR` and the run manifest (`run.json`).

extension Train {
    /// The options that may differ between a run and its resumption: where the data lives,
    /// the final evaluation, when to stop, and what is printed or written beside the run.
    static let optionsFreeOnResume: Set<String> = ["--data-dir", "--final-eval-count", "--stop-after", "--quiet", "--json", "--out", "--resume"]

    /// The command for `bulwark train ARGUMENTS` when they hold `--resume DIR`: the options of
    /// the run in DIR (its `run.json`'s `command`), overridden by those in `arguments`, writing
    /// into DIR.
    ///
    /// - Throws: `ValidationError` when DIR holds no run written by `bulwark train`, or an
    ///   option in `arguments` changes how the run trains.
    static func resuming(_ arguments: [String]) throws -> Train {
        guard let directory = value(of: "--resume", in: arguments) else {
            throw ValidationError("--resume needs the run directory: bulwark train --resume runs/NAME")
        }
        let saved = try savedConfiguration(in: directory)
        let savedWords = try savedArguments(saved, in: directory)
        let given = Set(arguments.filter { $0.hasPrefix("--") }.map(optionName))
        var kept = [String]()
        var index = 0
        while index < savedWords.count {
            let word = savedWords[index]
            let takesValue = index + 1 < savedWords.count && !savedWords[index + 1].hasPrefix("--")
            if !given.contains(optionName(word)) {
                kept.append(word)
                if takesValue { kept.append(savedWords[index + 1]) }
            }
            index += takesValue ? 2 : 1
        }
        guard var command = try parseAsRoot(kept + arguments) as? Train else {
            throw ValidationError("--resume applies to bulwark train")
        }
        if let out = value(of: "--out", in: arguments), absolutePath(out) != absolutePath(directory) {
            throw ValidationError("--out \(out) differs from --resume \(directory); a resumed run writes into its own directory. Leave out --out.")
        }
        command.out = directory
        try checkAgreement(of: command, with: saved, in: directory)
        return command
    }

    /// `run.json` of the run in `directory`.
    static func savedConfiguration(in directory: String) throws -> [String: String] {
        let file = path(in: directory, "run.json")
        guard FileManager.default.fileExists(atPath: file) else {
            throw ValidationError("'\(directory)' has no run.json: it is not a run directory written by bulwark train. Check the path given to --resume.")
        }
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw ValidationError("'\(file)' is not a run manifest written by bulwark train (\(error.localizedDescription)); it cannot be resumed.")
        }
    }

    /// The run's options as command-line words, without `bulwark train` and `--out`.
    static func savedArguments(_ configuration: [String: String], in directory: String) throws -> [String] {
        guard let command = configuration["command"], let words = shellWords(command), words.starts(with: ["bulwark", "train"]) else {
            throw ValidationError("run.json in '\(directory)' records no command to resume (it was written by an older Bulwark); start the run again.")
        }
        var result = Array(words.dropFirst(2))
        if let index = result.firstIndex(of: "--out"), index + 1 < result.count { result.removeSubrange(index...(index + 1)) }
        return result
    }

    /// Throws unless `command` trains as the run whose `run.json` is `saved`.
    static func checkAgreement(of command: Train, with saved: [String: String], in directory: String) throws {
        guard let original = try parseAsRoot(try savedArguments(saved, in: directory)) as? Train else {
            throw ValidationError("run.json in '\(directory)' does not hold a bulwark train command")
        }
        // Keyed by option, inversions together: --no-random-start replaces --random-start.
        func words(_ command: Train) -> [String: String] {
            Dictionary(command.trainingArguments.map { (optionName($0.name), $0.name + ($0.value.map { " " + $0 } ?? "")) },
                       uniquingKeysWith: { first, _ in first })
        }
        let before = words(original), after = words(command)
        let conflicts = Set(before.keys).union(after.keys).sorted().filter { before[$0] != after[$0] }.map { name in
            "\(after[name] ?? "no " + name) (the run has \(before[name] ?? "no " + name))"
        }
        guard conflicts.isEmpty else {
            throw ValidationError("""
                Options given with --resume conflict with the run in '\(directory)' (its run.json): \(conflicts.joined(separator: "; ")). \
                Leave them out to continue the run as it was configured, or start a new run with another --out.
                """)
        }
    }
}

/// The value after `option` (`--option VALUE` or `--option=VALUE`) in `arguments`.
private func value(of option: String, in arguments: [String]) -> String? {
    for (index, word) in arguments.enumerated() {
        if word == option, index + 1 < arguments.count { return arguments[index + 1] }
        if word.hasPrefix(option + "=") { return String(word.dropFirst(option.count + 1)) }
    }
    return nil
}

/// The option a word names, with `=VALUE` and a `no-` inversion removed
/// (`--no-random-start` → `--random-start`).
private func optionName(_ word: String) -> String {
    let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
    return name.hasPrefix("--no-") ? "--" + name.dropFirst(5) : name
}

/// `path` made absolute against the current directory, without `.` and `..`.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

/// `word` quoted for a POSIX shell when it needs to be.
func shellQuoted(_ word: String) -> String {
    let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !word.isEmpty, word.unicodeScalars.allSatisfy(plain.contains) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The words of a command written by ``shellQuoted(_:)``: spaces separate words, single
/// quotes quote, a backslash outside quotes escapes the next character; `nil` for an
/// unterminated quote.
func shellWords(_ command: String) -> [String]? {
    var words = [String]()
    var current = ""
    var inWord = false, quoted = false, escaped = false
    for character in command {
        if escaped {
            current.append(character)
            escaped = false
        } else if quoted {
            if character == "'" { quoted = false } else { current.append(character) }
        } else if character == "'" {
            quoted = true
            inWord = true
        } else if character == "\\" {
            escaped = true
            inWord = true
        } else if character == " " {
            if inWord { words.append(current) }
            current = ""
            inWord = false
        } else {
            current.append(character)
            inWord = true
        }
    }
    if quoted || escaped { return nil }
    if inWord { words.append(current) }
    return words
}

/// What built and runs this Bulwark, for run manifests: the Swift compiler, the OS, the
/// linked BLAS and oneDNN, and the worker threads (a run is bit-for-bit reproducible on the
/// same build and thread count).
func environmentDescription() -> [String: String] {
    #if compiler(>=6.5)
    let swift = "6.5 or later"
    #elseif compiler(>=6.4)
    let swift = "6.4"
    #elseif compiler(>=6.3)
    let swift = "6.3"
    #elseif compiler(>=6.2)
    let swift = "6.2"
    #elseif compiler(>=6.1)
    let swift = "6.1"
    #else
    let swift = "6.0"
    #endif
    var result = [
        "bulwark_version": toolVersion, "swift_version": swift,
        "os": ProcessInfo.processInfo.operatingSystemVersionString, "threads": String(workerCount), "blas": blasDescription,
    ]
    if let oneDNNVersion { result["onednn_version"] = oneDNNVersion }
    #if arch(x86_64)
    result["cpu_architecture"] = "x86_64"
    #elseif arch(arm64)
    result["cpu_architecture"] = "arm64"
    #endif
    return result
}
