import ArgumentParser
import Bulwark

/// A `bulwark train` command: its flags give a configuration that a library job trains. Both
/// tasks share the run's outputs, progress, and `--resume DIR`.
protocol TrainingCommand: ParsableCommand {
    associatedtype Configuration: RecordedConfiguration
    /// The words that begin its command line: `bulwark train`, or `bulwark train --task text`.
    static var commandWords: [String] { get }
    /// The fields whose options must be given to parse, taken from `run.json` when resuming.
    static var requiredFields: [String] { get }
    /// The default of `--out`.
    static var defaultOutput: String { get }
    /// The discussion of `--resume` in the help: what may change.
    static var resumeDiscussion: String { get }
    /// The configuration the options give.
    var configuration: Configuration { get }
    /// The files the run reads, which `--json` may not replace.
    var inputFiles: [PathOption] { get }
    associatedtype Job: TrainingJob
    /// The job that trains `configuration` (continuing the run in `--out` when `resuming`);
    /// throws a `ValidationError` naming the flags at fault.
    func job(_ configuration: Configuration, resuming: Bool) throws -> Job
    /// Carries out `job`, showing its progress and results.
    func train(_ job: Job) throws
    var runDirectory: RunDirectoryOptions<Self> { get set }
    var json: String? { get }
}

/// The options of the run's directory, worded for `Command`'s task.
struct RunDirectoryOptions<Command: TrainingCommand>: ParsableArguments {
    @Option(help: "The output directory.") var out: String = Command.defaultOutput
    @Flag(help: "Print only the final summary.") var quiet = false
    @Flag(help: "Replace the run already in --out (its model, checkpoints, metrics and manifest) instead of refusing.") var force = false
    @Option(help: ArgumentHelp(
        "Continue the run in this directory from its last completed epoch.", discussion: Command.resumeDiscussion, valueName: "dir"))
    var resume: String?
    @Option(help: ArgumentHelp("Stop after epoch N although the schedule spans --epochs; continue later with --resume OUT.", valueName: "n"))
    var stopAfter: Int?
}

extension TrainingCommand {
    var inputFiles: [PathOption] { [] }

    func run() throws { try train(job(configuration, resuming: false)) }

    /// Throws when `--architecture` and `--model`, its old spelling, name different
    /// architectures, or a new run's options give no job (a resumed run's options are checked
    /// once the run's own are known).
    func validateRun<Name: RawRepresentable<String> & Equatable>(architecture: Name?, deprecatedModel: Name?) throws {
        if let architecture, let deprecatedModel {
            try require(architecture == deprecatedModel, "--architecture \(architecture.rawValue) and --model \(deprecatedModel.rawValue), "
                        + "its old spelling, disagree; give only --architecture")
        }
        if runDirectory.resume == nil { _ = try job(configuration, resuming: false) }
    }

    /// The command line that repeats the run of `configuration` (resolved) into ``out``.
    func commandLine(_ configuration: Configuration) throws -> String {
        let values = try configuration.fieldValues()
        let words = Configuration.fields.flatMap { flagWords($0, values[$0]) }
        return (Self.commandWords + words + ["--out", runDirectory.out]).map(shellQuoted).joined(separator: " ")
    }

    /// The command for `ARGUMENTS` (the words after ``commandWords``) when they hold
    /// `--resume DIR`: the run in DIR continued with its configuration from `run.json`, in
    /// which the options given replace the run's; those that change how the run trains are
    /// refused (all but `--data-dir`, `--final-eval-count`, `--stop-after` and the outputs; see
    /// ``Resumption``). Returns what trains it; for `bulwark train` and a text run in DIR, a
    /// text run.
    static func resuming(_ arguments: [String]) throws -> () throws -> Void {
        guard let directory = value(of: "--resume", in: arguments) else {
            throw ValidationError("--resume needs the run directory: \((commandWords + ["--resume", "runs/NAME"]).joined(separator: " "))")
        }
        let run = try flagged { try Resumption(directory: directory) }
        let task = run.isTextRun ? TrainText.commandWords : Train.commandWords
        // `bulwark train --resume DIR` continues a text run as one.
        if task == TrainText.commandWords, Self.self == Train.self { return try TrainText.resuming(arguments) }
        guard task == commandWords else {
            let resume = (task + ["--resume", shellQuoted(directory)]).joined(separator: " ")
            throw ValidationError("'\(directory)' holds a run of \(task.joined(separator: " ")), not \(commandWords.joined(separator: " ")); continue it with \(resume)")
        }
        let recorded = requiredFields.filter { value(of: flag(for: $0), in: arguments) == nil }
            .flatMap { [flag(for: $0), run.recordedValue(of: $0) ?? ""] }
        guard var command = try parseAsRoot(recorded + arguments) as? Self else {
            throw ValidationError("--resume applies to \(commandWords.dropFirst().joined(separator: " "))")
        }
        try flagged { try run.checkOutputDirectory(value(of: "--out", in: arguments)) }
        command.runDirectory.out = directory
        let given = fields(of: Configuration.self, givenIn: arguments)
        let configuration = try flagged { try run.configuration(replacing: given, from: command.configuration) }
        let job = try command.job(configuration, resuming: true)
        return { try command.train(job) }
    }

    /// Loads `job`'s data (saying so with `loading`, what is loaded) and trains, showing the
    /// progress, once the outputs are checked: `--json` and `--out` can be written, `--json` is
    /// none of the run's files, and a new run replaces a run already in `--out` only with
    /// `--force`, once its data has loaded (see ``TrainingJob/claimOutputDirectory(force:resumeCommand:)``).
    func trainShowingProgress(_ job: Job, loading: String) throws -> (data: Job.TrainingData, outcome: Job.Outcome) {
        let (out, force) = (runDirectory.out, runDirectory.force)
        try checkOutputs(files: [("--json", json)], directories: [("--out", out)],
                         inputs: TrainingRunDirectory.files.map { ("the run's file", path(in: out, $0)) } + inputFiles)
        try flagged { try job.claimOutputDirectory(force: force, resumeCommand: resumeCommand) }
        let progress = Progress(quiet: runDirectory.quiet)
        progress.line("Loading \(loading) …")
        let data = try flagged { try job.loadData() }
        try flagged { try job.replaceForcedRun(force: force, resumeCommand: resumeCommand) }
        return (data, try flagged { try job.run(on: data) { progress.show(job.progressStep(for: $0, on: data)) } })
    }

    private var resumeCommand: String { (Self.commandWords + ["--resume", shellQuoted(runDirectory.out)]).joined(separator: " ") }

    /// What to say when the run stopped after `lastEpoch` of `epochs` (`--stop-after`).
    func stoppedNotice(after lastEpoch: Int, of epochs: Int) -> String {
        "stopped after epoch \(lastEpoch) of \(epochs); continue with: " + resumeCommand
    }
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
