import ArgumentParser
import Bulwark
import Foundation

/// The `bulwark` command-line tool.
@main
struct BulwarkTool: ParsableCommand {
    static func main() {
        retainLargeAllocations()
        do {
            let arguments = attachingNegativeValues(Array(CommandLine.arguments.dropFirst()))
            if arguments.first == "help", let text = textTaskHelp(Array(arguments.dropFirst())) {
                output(text)
                return
            }
            // `train --model FILE.onnx` fine-tunes a file; only `--model ARCHITECTURE` is the old spelling.
            let models = arguments.indices.compactMap { index -> String? in
                let word = arguments[index]
                if word.hasPrefix("--model=") { return String(word.dropFirst("--model=".count)) }
                return word == "--model" ? (index + 1 < arguments.count ? arguments[index + 1] : "") : nil
            }
            if arguments.first == "train", models.contains(where: { !ImageClassifier.isONNX($0) }) {
                writeToStandardError("note: train --model is deprecated: it names the architecture, so spell it --architecture "
                                     + "(--model names a checkpoint file in eval, attack and predict)")
            }
            // Only training, image evaluation and the check share their work between ranks.
            if MPILaunch.detected(in: ProcessInfo.processInfo.environment), !["train", "eval", "mpi-check"].contains(arguments.first ?? "")
                || textTaskArguments(arguments, of: "eval") != nil {
                throw ValidationError("bulwark \(arguments.first ?? "") runs in one process: start it without mpirun (only train and eval share their work between ranks)")
            }
            // With --resume, the run's configuration, in which the options given replace the run's;
            // errors in the options given are reported as the parser reports them.
            if let rest = textTaskArguments(arguments, of: "train") {
                try rest.contains(where: isResumeOption) ? reportingErrors(TrainText.resuming(rest)) : run(TrainText.parseAsRoot(rest))
            } else if let rest = textTaskArguments(arguments, of: "eval") {
                try run(EvalText.parseAsRoot(rest))
            } else if arguments.first == "train", arguments.contains(where: isResumeOption) {
                try reportingErrors(Train.resuming(Array(arguments.dropFirst())))
            } else {
                try run(parseAsRoot(arguments))
            }
        } catch {
            let error = namingFlags(error)
            // Under mpirun every rank stops, not only this one (the others may wait for it).
            if MPILaunch.isInitialized {
                writeToStandardError(fullMessage(for: error))
                abortEveryRank(status: exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
    }

    /// Runs a parsed command. A `ValidationError` found while running (a missing output
    /// directory, a run that would be overwritten) keeps its exit status but gets no usage
    /// line: the options parsed, the line would name the root command, and the message already
    /// says what to change.
    private static func run(_ command: any ParsableCommand) throws {
        var command = command
        try reportingErrors { try command.run() }
    }

    private static func reportingErrors(_ body: () throws -> Void) throws {
        do { try body() } catch let error as ValidationError {
            writeToStandardError("Error: \(error.message)")
            abortEveryRank(status: ExitCode.validationFailure.rawValue)
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "Adversarial training and robustness evaluation of neural networks.",
        discussion: """
            Train a model (optionally adversarially), then evaluate its clean and robust accuracy:
              bulwark train --dataset fashion-mnist --architecture smallcnn --method fast --epsilon 0.1 --out runs/fast
              bulwark eval --model runs/fast/model.safetensors --attack pgd --epsilon 0.1 --steps 20 --step-size 0.01
            and look at the results:
              bulwark report runs/fast
            Text classifiers (SST-2, MR, TREC, AG News, CSV/TSV/JSONL) with embedding-space FGM or PGD:
              bulwark train --task text --dataset sst2 --data-dir DIR --architecture textcnn --method fgm --epsilon 1
            (see bulwark train --task text --help and bulwark eval --task text --help).
            """,
        version: bulwarkVersion,
        subcommands: [Train.self, Eval.self, AttackCommand.self, VerifyAdversarial.self, Predict.self, Export.self, Report.self, MPICheck.self])
}

/// The arguments after `subcommand` when they select the text task (`train --task text …` or
/// `--task=text`), without the task option; `nil` for every other command line.
func textTaskArguments(_ arguments: [String], of subcommand: String) -> [String]? {
    guard arguments.first == subcommand else { return nil }
    let rest = Array(arguments.dropFirst())
    if let index = rest.firstIndex(of: "--task=text") { return Array(rest[..<index] + rest[(index + 1)...]) }
    if let index = rest.firstIndex(of: "--task"), rest.dropFirst(index + 1).first == "text" { return Array(rest[..<index] + rest[(index + 2)...]) }
    return nil
}

/// The help of the text task's commands for `bulwark help train --task text` (the words after
/// `help`); `nil` for every other command line.
func textTaskHelp(_ arguments: [String]) -> String? {
    if textTaskArguments(arguments, of: "train") != nil { return TrainText.helpMessage() }
    if textTaskArguments(arguments, of: "eval") != nil { return EvalText.helpMessage() }
    return nil
}
