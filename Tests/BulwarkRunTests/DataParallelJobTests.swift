import Bulwark
import Foundation
import Testing
import _TestSupport

/// An image training job on several ranks (threads of one process): rank 0 alone writes the
/// run and evaluates it, the manifest records the number of processes, and the run resumes on
/// another number of processes.
@Suite struct DataParallelJobTests {
    private func npyPair(in scratch: TemporaryDirectory, _ name: String, count: Int) throws -> String {
        let shape = [1, 28, 28]
        let scalars = (0..<(count * shape.reduce(1, *))).map { Float($0 % 89) / 89 }
        _ = try scratch.write(NumPyArray.int64Bytes((0..<count).map { $0 % 3 }), to: "y_\(name).npy")
        return try scratch.write(NumPyArray.float32Bytes(Tensor(shape: [count] + shape, scalars: scalars)), to: "x_\(name).npy")
    }

    @Test func aTwoRankRunIsWrittenByRankZeroAndResumesOnOneProcess() throws {
        let scratch = try TemporaryDirectory()
        var c = ImageTrainingConfiguration()
        c.dataPath = try npyPair(in: scratch, "train", count: 20)
        c.testDataPath = try npyPair(in: scratch, "test", count: 4)
        (c.architecture, c.method, c.epochs, c.batchSize) = (.mlp, .fast, 2, 4)
        (c.validationCount, c.validationSteps, c.finalEvaluationCount) = (4, 0, 4)
        let configuration = c
        let directory = scratch.path + "/run"
        let outcomes = try LocalCommunicatorGroup(size: 2).run { communicator -> (epochs: Int, evaluated: Bool) in
            let job = try ImageTrainingJob(configuration: configuration, outputDirectory: directory, command: "test",
                                           stopAfterEpoch: 1, communicator: communicator)
            let outcome = try job.run(on: job.loadData()) { _ in }
            return (outcome.history.count, outcome.finalEvaluation != nil)
        }
        #expect(outcomes.map { $0.epochs } == [1, 1])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/run.json"))) as? [String: Any]
        #expect(manifest?["processes"].map { "\($0)" } == "2")

        let job = try ImageTrainingJob(configuration: configuration, outputDirectory: directory, command: "test", resuming: true)
        let outcome = try job.run(on: job.loadData()) { _ in }
        #expect(outcome.history.count == 2)
        #expect(outcome.finalEvaluation != nil)

        let finished = try LocalCommunicatorGroup(size: 2).run { communicator -> Bool in
            let job = try ImageTrainingJob(configuration: configuration, outputDirectory: scratch.path + "/whole", command: "test",
                                           communicator: communicator)
            return try job.run(on: job.loadData()) { _ in }.finalEvaluation != nil
        }
        #expect(finished == [true, false], "rank 0 alone runs the final evaluation")
    }
}
