import ArgumentParser
import Bulwark
import BulwarkCore
import Foundation

// What `bulwark train` and `bulwark train --task text` share: flags named after configuration
// fields, the run's outputs, progress, and `--resume DIR`.

/// A `bulwark train` command: its flags give a configuration that a library job trains.
protocol TrainingCommand: ParsableCommand {
    associatedtype Configuration: RecordedConfiguration
    /// The words that begin its command line: `bulwark train`, or `bulwark train --task text`.
    static var commandWords: [String] { get }
    /// Options that must be given to parse, taken from `run.json` (by key) when resuming.
    static var requiredOptions: [(option: String, key: String)] { get }
    /// The configuration the options give.
    var configuration: Configuration { get }
    associatedtype Job
    /// The job that trains `configuration` (continuing the run in ``out`` when `resuming`).
    ///
    /// - Throws: `ValidationError` naming the flags at fault.
    func job(_ configuration: Configuration, resuming: Bool) throws -> Job
    /// Carries out `job`, showing its progress and results.
    func train(_ job: Job) throws
    var out: String { get set }
    var resume: String? { get }
    var json: String? { get }
    var force: Bool { get }
}

/// The command-line words that give `field` `value` (the manifest's text; `nil` unset).
func flagWords(_ field: String, _ value: String?) -> [String] {
    switch (field, value) {
    case (_, nil), ("clipsStart", "true"?), ("overfittingGuard", "false"?): []
    case ("clipsStart", _), ("overfittingGuard", _): [flag(for: field)]
    case (let field, let value?) where invertibleSwitches.contains(field):
        [value == "true" ? flag(for: field) : "--no-" + flag(for: field).dropFirst(2)]
    case (_, let value?): [flag(for: field), value]
    }
}

/// The Boolean fields whose flag has a `--no-` inversion.
private let invertibleSwitches: Set<String> = ["randomStart", "augment", "bucketing"]

extension TrainingCommand {
    func run() throws { try train(job(configuration, resuming: false)) }

    /// The command line that repeats the run of `configuration` (resolved) into ``out``.
    func commandLine(_ configuration: Configuration) throws -> String {
        let values = try configuration.fieldValues()
        let words = Configuration.fields.flatMap { flagWords($0, values[$0]) }
        return (Self.commandWords + words + ["--out", out]).map(shellQuoted).joined(separator: " ")
    }

    /// The command for `ARGUMENTS` (the words after ``commandWords``) when they hold
    /// `--resume DIR`: the run in DIR continued with its configuration from `run.json`, in
    /// which the options given replace the run's; those that change how the run trains are
    /// refused (all but `--data-dir`, `--final-eval-count`, `--stop-after` and the outputs).
    /// Returns what trains it.
    static func resuming(_ arguments: [String]) throws -> () throws -> Void {
        guard let directory = value(of: "--resume", in: arguments) else {
            throw ValidationError("--resume needs the run directory: \((commandWords + ["--resume", "runs/NAME"]).joined(separator: " "))")
        }
        let data = try flagged { try TrainingManifest.read(in: directory) }
        let entries = try flagged { try TrainingManifest.entries(of: data, in: directory) }
        let task = TrainingManifest.isTextRun(entries) ? TrainText.commandWords : Train.commandWords
        guard task == commandWords else {
            let resume = (task + ["--resume", shellQuoted(directory)]).joined(separator: " ")
            throw ValidationError("'\(directory)' holds a run of \(task.joined(separator: " ")), not \(commandWords.joined(separator: " ")); continue it with \(resume)")
        }
        let required = requiredOptions.filter { value(of: $0.option, in: arguments) == nil }.flatMap { [$0.option, entries[$0.key] ?? ""] }
        guard var command = try parseAsRoot(required + arguments) as? Self else {
            throw ValidationError("--resume applies to \(commandWords.dropFirst().joined(separator: " "))")
        }
        if let out = value(of: "--out", in: arguments), absolutePath(out) != absolutePath(directory) {
            throw ValidationError("--out \(out) differs from --resume \(directory); a resumed run writes into its own directory. Leave out --out.")
        }
        command.out = directory
        let saved = try flagged { try TrainingManifest.configuration(Configuration.self, from: data, in: directory) }
        let flags = Dictionary(Configuration.fields.map { (flag(for: $0), $0) }) { first, _ in first }
        let given = Set(arguments.filter { $0.hasPrefix("--") }.compactMap { flags[optionName($0)] })
        let configuration = try saved.replacing(given, from: command.configuration)
        let conflicts = try configuration.resolved().differences(from: saved.resolved(), ignoring: ["dataDirectory", "finalEvaluationCount"])
        guard conflicts.isEmpty else {
            func words(_ field: String, _ value: String?) -> String {
                let words = flagWords(field, value)
                return words.isEmpty ? "no " + flag(for: field) : words.joined(separator: " ")
            }
            let described = conflicts.sorted { flag(for: $0.field) < flag(for: $1.field) }
                .map { "\(words($0.field, $0.value)) (the run has \(words($0.field, $0.otherValue)))" }
            throw ValidationError("""
                Options given with --resume conflict with the run in '\(directory)' (its run.json): \(described.joined(separator: "; ")). \
                Leave them out to continue the run as it was configured, or start a new run with another --out.
                """)
        }
        let job = try command.job(configuration, resuming: true)
        return { try command.train(job) }
    }

    /// Checks the run's outputs before any work starts: `--json` and `--out` can be written,
    /// `--json` is none of the run's files, and a new run replaces a run already in `--out`
    /// only with `--force` (see ``replaceForcedRun()``). Then removes the temporary files that
    /// writes interrupted by a kill left in `--out`.
    func checkRunOutputs() throws {
        try checkOutputs(files: [("--json", json)], directories: [("--out", out)],
                         inputs: TrainingRunDirectory.files.map { ("the run's file", path(in: out, $0)) })
        if resume == nil {
            try flagged { try TrainingRunDirectory.claim(out, force: force, resumeCommand: resumeCommand, removing: false) }
        }
        OutputFile.removeStaleTemporaryFiles(in: out)
    }

    /// Removes the old run in `--out` that `--force` replaces. Called once the data has loaded,
    /// so that a mistake found before then (a missing dataset, a wrong count) leaves it whole.
    func replaceForcedRun() throws {
        if resume == nil { try flagged { try TrainingRunDirectory.claim(out, force: force, resumeCommand: resumeCommand, removing: true) } }
    }

    private var resumeCommand: String { (Self.commandWords + ["--resume", shellQuoted(out)]).joined(separator: " ") }

    /// What to say when the run stopped after `lastEpoch` of `epochs` (`--stop-after`).
    func stoppedNotice(after lastEpoch: Int, of epochs: Int) -> String {
        "stopped after epoch \(lastEpoch) of \(epochs); continue with: " + resumeCommand
    }

    /// Shows a training job's `event` of a run of `epochs` epochs; `text` names examples and
    /// evaluation as the text task does.
    func report(_ event: TrainingJobEvent, epochs: Int, progress: Progress, text: Bool = false) {
        switch event {
        case .restarting: progress.line("the run completed no epoch before it stopped; starting it from the beginning")
        case .training(.resumed(let completed)):
            progress.line("continuing after epoch \(completed) of \(epochs) from \(path(in: out, RunFile.resume))")
        case let .training(.epochStarted(epoch, _)): progress.begin("epoch \(epoch)/\(epochs)")
        case let .training(.batch(_, batch, batches, loss, accuracy, _)):
            progress.update(done: batch, total: batches, unit: "batches", detail: String(format: "loss %.4f acc %.2f%%", loss, accuracy * 100))
        case let .training(.validating(epoch, done, total)):
            if done == 0 { progress.begin((text ? "evaluate " : "validate ") + "\(epoch)") } else if !text { progress.update(done: done, total: total) }
        case .training(.epoch(let metrics)):
            progress.line(text ? describe(metrics).replacingOccurrences(of: "img/s", with: "examples/s").replacingOccurrences(of: "val clean", with: "eval clean")
                               : describe(metrics))
        case .training(.catastrophicOverfitting(let report)):
            progress.line(String(
                format: "catastrophic overfitting at epoch %d, batch %d: PGD accuracy %@ (best %@ at epoch %d, batch %d) while FGSM accuracy is %@; stopped and restored the model of the best check",
                report.epoch, report.batch, percent(report.pgdAccuracy), percent(report.bestPGDAccuracy),
                report.bestEpoch, report.bestBatch, percent(report.fgsmAccuracy)))
        case .started, .finishing, .finalEvaluation: break
        }
    }
}

/// What trains `bulwark train ARGUMENTS` holding `--resume DIR` without `--task`: a text run
/// when DIR holds a run of `bulwark train --task text`, an image run otherwise.
func resumingTraining(_ arguments: [String]) throws -> () throws -> Void {
    let entries = value(of: "--resume", in: arguments).flatMap { try? TrainingManifest.entries(of: TrainingManifest.read(in: $0), in: $0) }
    return if let entries, TrainingManifest.isTextRun(entries) { try TrainText.resuming(arguments) } else { try Train.resuming(arguments) }
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

/// The flag a word names, with `=VALUE`, a `no-` inversion and other spellings removed
/// (`--no-random-start` → `--random-start`, `--alpha` → `--step-size`).
private func optionName(_ word: String) -> String {
    let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
    switch name {
    case "--model": return "--architecture"
    case "--alpha": return "--step-size"
    case "--eps": return "--epsilon"
    default: return name.hasPrefix("--no-") ? "--" + name.dropFirst(5) : name
    }
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
