import ArgumentParser
import Bulwark
import BulwarkCore
import Foundation

// `bulwark train [--task text] --resume DIR` and the run manifest (`run.json`).

/// A `bulwark train` command whose runs `--resume` continues: it records its resolved options
/// as the command of the run's manifest (`run.json`) and rebuilds itself from them.
protocol ResumableTraining: ParsableCommand {
    /// The words that begin its command line: `bulwark train`, or `bulwark train --task text`.
    static var commandWords: [String] { get }
    /// Every option that shapes the trained model, with its resolved value (those that do not
    /// apply left out), as command-line words: the part of `run.json`'s `command` that
    /// `--resume` compares.
    var trainingArguments: [(name: String, value: String?)] { get }
    /// The command line that repeats this run, `run.json`'s `command`.
    var commandLine: String { get }
    /// The output directory.
    var out: String { get set }
    /// The run directory to continue, or `nil` for a new run.
    var resume: String? { get }
    /// The file of the run's JSON summary, if any.
    var json: String? { get }
    /// Whether a new run may replace the run already in ``out``.
    var force: Bool { get }
    /// The options besides ``trainingArguments`` that `--resume` takes from the manifest's
    /// command (the data's location, the final evaluation); output options are never taken.
    static var manifestOptions: Set<String> { get }
}

extension Train: ResumableTraining {
    static let commandWords = ["bulwark", "train"]

    static let manifestOptions: Set<String> = ["--data-dir", "--final-eval-count"]
}

extension ResumableTraining {
    /// The command for `ARGUMENTS` (the words after `commandWords`) when they hold
    /// `--resume DIR`: the options of the run in DIR (its `run.json`'s `command`), overridden
    /// by those in `arguments`, writing into DIR.
    ///
    /// - Throws: `ValidationError` when DIR holds no run written by this command, or an
    ///   option in `arguments` changes how the run trains.
    static func resuming(_ arguments: [String]) throws -> Self {
        guard let directory = value(of: "--resume", in: arguments) else {
            throw ValidationError("--resume needs the run directory: \((commandWords + ["--resume", "runs/NAME"]).joined(separator: " "))")
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
        guard var command = try parseAsRoot(kept + arguments) as? Self else {
            throw ValidationError("--resume applies to \(commandWords.dropFirst().joined(separator: " "))")
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
            return try RunManifest.decode(Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw ValidationError("'\(file)' is not a run manifest written by bulwark train (\(error.localizedDescription)); it cannot be resumed.")
        }
    }

    /// The run's options as command-line words, without ``commandWords``: only those that
    /// define the training (``trainingArguments``) and ``manifestOptions``, so that a manifest
    /// cannot choose where the resumed run writes (`--out`, `--json`).
    static func savedArguments(_ configuration: [String: String], in directory: String) throws -> [String] {
        guard let command = configuration["command"], let words = shellWords(command), words.starts(with: Train.commandWords) else {
            throw ValidationError("run.json in '\(directory)' records no command to resume (it was written by an older Bulwark); start the run again.")
        }
        let task = words.starts(with: TrainText.commandWords) ? TrainText.commandWords : Train.commandWords
        guard task == commandWords else {
            let resume = (task + ["--resume", shellQuoted(directory)]).joined(separator: " ")
            throw ValidationError("'\(directory)' holds a run of \(task.joined(separator: " ")), not \(commandWords.joined(separator: " ")); continue it with \(resume)")
        }
        let saved = Array(words.dropFirst(task.count))
        guard let parsed = try? parseAsRoot(saved) as? Self else {
            throw ValidationError("run.json in '\(directory)' does not hold a \(commandWords.joined(separator: " ")) command")
        }
        let kept = Set(parsed.trainingArguments.map { optionName($0.name) }).union(manifestOptions)
        var result = [String]()
        var index = 0
        while index < saved.count {
            let word = saved[index]
            let takesValue = word.hasPrefix("--") && !word.contains("=") && index + 1 < saved.count && !saved[index + 1].hasPrefix("--")
            if word.hasPrefix("--"), kept.contains(optionName(word)) {
                result.append(word)
                if takesValue { result.append(saved[index + 1]) }
            }
            index += takesValue ? 2 : 1
        }
        return result
    }

    /// Throws unless `command` trains as the run whose `run.json` is `saved`.
    static func checkAgreement(of command: Self, with saved: [String: String], in directory: String) throws {
        guard let original = try parseAsRoot(try savedArguments(saved, in: directory)) as? Self else {
            throw ValidationError("run.json in '\(directory)' does not hold a \(commandWords.joined(separator: " ")) command")
        }
        // Keyed by option, inversions together: --no-random-start replaces --random-start.
        func words(_ command: Self) -> [String: String] {
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

    /// `words` as a command line that begins with ``commandWords``, quoted for a shell.
    static func commandLine(_ words: [(name: String, value: String?)]) -> String {
        (commandWords + words.flatMap { [$0.name] + ($0.value.map { [$0] } ?? []) }).map(shellQuoted).joined(separator: " ")
    }

    /// The run's manifest. For a new run, `configuration` with ``commandLine`` and the
    /// environment, written to `OUT/run.json` (the directory created); for a resumed run, the
    /// run's own `run.json`, once this command's options are checked to agree with it.
    ///
    /// - Throws: `ValidationError` when `--out` differs from `--resume`, the options conflict,
    ///   or the manifest cannot be read or written.
    func recordManifest(_ configuration: [String: String]) throws -> [String: String] {
        if let resume {
            guard absolutePath(resume) == absolutePath(out) else {
                throw ValidationError("A resumed run writes into its own directory: --out \(out) differs from --resume \(resume).")
            }
            let saved = try Self.savedConfiguration(in: resume)
            try Self.checkAgreement(of: self, with: saved, in: resume)
            return saved
        }
        var manifest = configuration
        manifest["command"] = commandLine
        for (key, value) in runEnvironment() { manifest[key] = value }
        manifest = RunManifest.canonical(manifest)
        try createDirectory(out)
        try writeManifest(manifest)
        return manifest
    }

    /// The metadata of the run's checkpoints: the manifest (without the note of resumptions, so
    /// that a resumed run writes the same files as an uninterrupted one) and the seed.
    static func checkpointMetadata(manifest: [String: String], seed: UInt64) -> [String: String] {
        var configuration = manifest
        configuration[resumedAfterEpochsKey] = nil
        return ["configuration": encode(configuration), "seed": String(seed)]
    }

    /// Reports that training continues after `completed` of `epochs` epochs, and notes it in
    /// `run.json` (`resumed_after_epochs`, a list); the run goes on if the note cannot be written.
    func noteResumption(after completed: Int, of epochs: Int, manifest: [String: String], progress: Progress) {
        progress.line("continuing after epoch \(completed) of \(epochs) from \(path(in: out, RunFile.resume))")
        var noted = manifest
        noted[Self.resumedAfterEpochsKey] = (noted[Self.resumedAfterEpochsKey].map { $0 + "," } ?? "") + String(completed)
        try? writeManifest(noted)
    }

    /// Writes `manifest` to `OUT/run.json`, numbers and booleans typed (``RunManifest``).
    func writeManifest(_ manifest: [String: String]) throws {
        let data: Data
        do { data = try RunManifest.encode(manifest) } catch {
            throw ValidationError("Cannot encode the run manifest: \(error.localizedDescription)")
        }
        try writeOutput(Array(data), to: path(in: out, "run.json"))
    }

    /// Checks the run's outputs before any work starts: `--json` and `--out` can be written,
    /// `--json` is none of the run's files, and a new run replaces a run already in `--out`
    /// only with `--force` (see ``replaceForcedRun()``). Then removes the temporary files that
    /// writes interrupted by a kill left in `--out`.
    func checkRunOutputs() throws {
        try checkOutputs(files: [("--json", json)], directories: [("--out", out)],
                         inputs: runDirectoryFiles.map { ("the run's file", path(in: out, $0)) })
        if resume == nil {
            try claimRunDirectory(out, force: force, resumeCommand: resumeCommand, removing: false)
        }
        OutputFile.removeStaleTemporaryFiles(in: out)
    }

    /// Removes the old run in `--out` that `--force` replaces. Called once the data has loaded,
    /// so that a mistake found before then (a missing dataset, a wrong count) leaves it whole.
    func replaceForcedRun() throws {
        if resume == nil { try claimRunDirectory(out, force: force, resumeCommand: resumeCommand, removing: true) }
    }

    private var resumeCommand: String { (Self.commandWords + ["--resume", shellQuoted(out)]).joined(separator: " ") }

    /// What to say when the run stopped after `lastEpoch` of `epochs` (`--stop-after`).
    func stoppedNotice(after lastEpoch: Int, of epochs: Int) -> String {
        "stopped after epoch \(lastEpoch) of \(epochs); continue with: " + (Self.commandWords + ["--resume", shellQuoted(out)]).joined(separator: " ")
    }

    /// The `run.json` key listing the epochs after which the run was resumed.
    static var resumedAfterEpochsKey: String { "resumed_after_epochs" }
}

/// The command for `bulwark train ARGUMENTS` when they hold `--resume DIR` and no `--task`:
/// the text task's when DIR holds a run of `bulwark train --task text`, the image task's
/// otherwise.
func resumedTrainingCommand(_ arguments: [String]) throws -> any ParsableCommand {
    if let directory = value(of: "--resume", in: arguments),
       let command = (try? Train.savedConfiguration(in: directory))?["command"],
       let words = shellWords(command), words.starts(with: TrainText.commandWords) {
        return try TrainText.resuming(arguments)
    }
    return try Train.resuming(arguments)
}

/// Whether `word` is the `--resume` option.
func isResumeOption(_ word: String) -> Bool {
    word == "--resume" || word.hasPrefix("--resume=")
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
    // Manifests written before train named the architecture --model.
    if name == "--model" { return "--architecture" }
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
