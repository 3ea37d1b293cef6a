import ArgumentParser
import Bulwark
import BulwarkCore

/// The `bulwark` command-line tool.
@main
struct BulwarkTool: ParsableCommand {
    static func main() {
        retainLargeAllocations()
        do {
            var command = try parseAsRoot()
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
            """,
        version: toolVersion,
        subcommands: [Train.self, Eval.self, AttackCommand.self, VerifyAdversarial.self, Predict.self, Report.self])
}

/// The version recorded in checkpoints and reports.
let toolVersion = "0.1.0"
