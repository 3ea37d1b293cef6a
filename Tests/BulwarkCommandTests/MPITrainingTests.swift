import Bulwark
import Foundation
import Testing
import _TestSupport

/// `mpirun -np 2 bulwark train` and `eval` against one process: the same global batch gives
/// the same model, the shared evaluation the same JSON, and ranks that disagree stop.
@Suite(.serialized) struct MPITrainingTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    private static let canRun: Bool = {
        if let reason = MPIRun.unavailable { print("MPITrainingTests skipped: \(reason)") }
        return MPIRun.unavailable == nil
    }()

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-mpi-train")
        try writeTwoClassIDX(to: directory + "/data", trainCount: 256, testCount: 64)
    }

    /// One SGD step of batch 128: the ranks' two halves of the batch sum to the one process's
    /// gradient up to rounding.
    private func oneStep(_ method: [String], out: String) -> [String] {
        ["train", "--dataset", "idx", "--data-dir", directory + "/data", "--architecture", "mlp"] + method + [
            "--optimizer", "sgd", "--learning-rate", "0.5", "--epochs", "1", "--batch-size", "128", "--train-count", "128",
            "--validation-count", "0", "--final-eval-count", "0", "--seed", "5", "--quiet", "--out", out,
        ]
    }

    private func tensors(_ file: String) throws -> [String: [Float]] {
        try SafeTensorsFile(contentsOf: file).tensors.mapValues { $0.array }
    }

    @Test(.enabled(if: canRun), arguments: [["--method", "standard"], ["--method", "pgd", "--epsilon", "0.1", "--no-random-start"]])
    func oneStepOnTwoRanksEqualsOneProcess(method: [String]) throws {
        let single = try runBulwark(oneStep(method, out: directory + "/one"))
        #expect(single.status == 0, "\(single.error)")
        let ranks = try MPIRun.bulwark(ranks: 2, oneStep(method, out: directory + "/two"), timeLimit: 180)
        #expect(!ranks.timedOut)
        #expect(ranks.status == 0, "\(ranks.error)")
        let (one, two) = (try tensors(directory + "/one/model.safetensors"), try tensors(directory + "/two/model.safetensors"))
        #expect(one.keys.sorted() == two.keys.sorted())
        for (name, weights) in one {
            let other = try #require(two[name])
            let difference = zip(weights, other).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-6, "\(name): \(difference)")
        }
        #expect(!one.isEmpty)
        let manifest = try String(contentsOfFile: directory + "/two/run.json", encoding: .utf8)
        #expect(manifest.contains("\"processes\""), "\(manifest)")
    }

    @Test(.enabled(if: canRun)) func aBatchThatDoesNotDivideByTheRanksIsRefused() throws {
        var arguments = oneStep(["--method", "standard"], out: directory + "/odd")
        arguments[arguments.firstIndex(of: "--batch-size")! + 1] = "127"
        let ranks = try MPIRun.bulwark(ranks: 2, arguments, timeLimit: 180)
        #expect(!ranks.timedOut)
        #expect(ranks.status != 0)
        #expect(ranks.error.contains("--batch-size"), "\(ranks.error)")
    }

    @Test(.enabled(if: canRun)) func ranksTrainingWithDifferentOptionsStopNamingTheOption() throws {
        let base = oneStep(["--method", "fast", "--epsilon", "0.1"], out: directory + "/disagree")
        var other = base
        other[other.firstIndex(of: "--epsilon")! + 1] = "0.2"
        let ranks = try MPIRun.bulwark(eachRank: [base, other], timeLimit: 180)
        #expect(!ranks.timedOut)
        #expect(ranks.status != 0)
        #expect(ranks.error.contains("the ranks disagree on --epsilon"), "\(ranks.error)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/disagree/model.safetensors"))
    }

    @Test(.enabled(if: canRun)) func commandsThatRunInOneProcessRefuseToStartUnderMPI() throws {
        // One rank: the ranks' messages would arrive on one stream, interleaved.
        let ranks = try MPIRun.bulwark(ranks: 1, ["predict", "--model", directory + "/none.safetensors"], timeLimit: 120)
        #expect(!ranks.timedOut)
        #expect(ranks.status != 0)
        #expect(ranks.error.contains("bulwark predict runs in one process: start it without mpirun"), "\(ranks.error)")
    }

    @Test(.enabled(if: canRun)) func theSharedEvaluationWritesWhatOneProcessWrites() throws {
        let train = try runBulwark(oneStep(["--method", "standard"], out: directory + "/model"))
        #expect(train.status == 0, "\(train.error)")
        func evaluate(_ json: String) -> [String] {
            ["eval", "--model", directory + "/model/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
             "--attack", "standard", "--epsilon", "0.3", "--iterations", "5", "--queries", "40", "--count", "64", "--seed", "2",
             "--quiet", "--json", json]
        }
        let single = try runBulwark(evaluate(directory + "/one.json"))
        #expect(single.status == 0, "\(single.error)")
        let ranks = try MPIRun.bulwark(ranks: 2, evaluate(directory + "/two.json"), timeLimit: 300)
        #expect(!ranks.timedOut)
        #expect(ranks.status == 0, "\(ranks.error)")
        // Timings are each run's own; everything else is the same.
        func withoutTimings(_ file: String) throws -> String {
            try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
                .filter { !$0.contains("\"seconds\"") && !$0.contains("\"images_per_second\"") && !$0.contains("\"threads\"") }
                .joined(separator: "\n")
        }
        let (one, two) = (try withoutTimings(directory + "/one.json"), try withoutTimings(directory + "/two.json"))
        #expect(one == two)
        #expect(one.contains("apgd-ce"))
    }

    private static let canRunOnTwoHosts: Bool = {
        if let reason = TwoHostNetwork.unavailable { print("MPITrainingTests' two-host test skipped: \(reason)") }
        return TwoHostNetwork.unavailable == nil
    }()

    /// Two hosts (network namespaces) talking TCP train the model one process trains.
    @Test(.enabled(if: canRunOnTwoHosts)) func twoHostsTrainTheModelOneProcessTrains() throws {
        let single = try runBulwark(oneStep(["--method", "standard"], out: directory + "/host-one"))
        #expect(single.status == 0, "\(single.error)")
        let ranks = try TwoHostNetwork.with { network in
            try network.runBulwarkOnBothHosts(oneStep(["--method", "standard"], out: directory + "/hosts"), timeLimit: 180)
        }
        #expect(!ranks.timedOut)
        #expect(ranks.status == 0, "\(ranks.error)")
        let (one, two) = (try tensors(directory + "/host-one/model.safetensors"), try tensors(directory + "/hosts/model.safetensors"))
        #expect(one.keys.sorted() == two.keys.sorted() && !one.isEmpty)
        for (name, weights) in one {
            let difference = zip(weights, two[name] ?? []).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-6, "\(name): \(difference)")
        }
    }
}
