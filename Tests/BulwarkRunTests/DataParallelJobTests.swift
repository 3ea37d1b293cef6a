import Bulwark
import Foundation
import Testing
import _TestSupport

/// An image training job on several ranks (threads of one process): rank 0 alone writes the
/// run and evaluates it, the manifest records the number of processes, and the run resumes on
/// another number of processes.
@Suite struct DataParallelJobTests {
    @Test func aTwoRankRunIsWrittenByRankZeroAndResumesOnOneProcess() throws {
        let scratch = try TemporaryDirectory()
        let configuration = try DataSelectionTests.smallRun(in: scratch, trainingImages: 20, epochs: 2)
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
