import ArgumentParser
import Bulwark
import BulwarkCore

/// The `bulwark` command-line tool.
@main
struct BulwarkTool: ParsableCommand {
    static func main() {
        retainLargeAllocations()
        do {
            var command: any ParsableCommand
            let arguments = Array(CommandLine.arguments.dropFirst())
            if let rest = textTaskArguments(arguments, of: "train") {
                // With --resume, the run's saved options, overridden by the ones given (which must agree).
                command = rest.contains(where: isResumeOption) ? try TrainText.resuming(rest) : try TrainText.parseAsRoot(rest)
            } else if let rest = textTaskArguments(arguments, of: "eval") {
                command = try EvalText.parseAsRoot(rest)
            } else if arguments.first == "train", arguments.contains(where: isResumeOption) {
                command = try resumedTrainingCommand(Array(arguments.dropFirst()))
            } else {
                command = try parseAsRoot()
            }
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "Adversarial training and robustness evaluation of neural networks.",
        discussion: """
            Train a model (optionally adversarially), then evaluate its clean and robust accuracy:
              bulwark train --dataset fashion-mnist --model smallcnn --method fast --epsilon 0.1 --out runs/fast
              bulwark eval --model runs/fast/model.safetensors --attack pgd --epsilon 0.1 --steps 20 --step-size 0.01
            and look at the results:
              bulwark report runs/fast
            Text classifiers (SST-2, MR, TREC, AG News, CSV/TSV/JSONL) with embedding-space FGM or PGD:
              bulwark train --task text --dataset sst2 --data-dir DIR --model textcnn --method fgm --epsilon 1
            (see bulwark train --task text --help and bulwark eval --task text --help).
            """,
        version: toolVersion,
        subcommands: [Train.self, Eval.self, AttackCommand.self, VerifyAdversarial.self, Predict.self, Report.self])
}

/// The version recorded in checkpoints and reports.
let toolVersion = "0.1.0"

/// The arguments after `subcommand` when they select the text task (`train --task text …` or
/// `--task=text`), without the task option; `nil` for every other command line.
func textTaskArguments(_ arguments: [String], of subcommand: String) -> [String]? {
    guard arguments.first == subcommand else { return nil }
    var rest = Array(arguments.dropFirst())
    if let index = rest.firstIndex(of: "--task=text") {
        rest.remove(at: index)
        return rest
    }
    if let index = rest.firstIndex(of: "--task"), index + 1 < rest.count, rest[index + 1] == "text" {
        rest.removeSubrange(index...(index + 1))
        return rest
    }
    return nil
}
