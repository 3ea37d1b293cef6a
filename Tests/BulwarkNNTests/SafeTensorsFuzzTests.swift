import Bulwark
import Foundation
import Testing
import _TestSupport

/// Seeded mutation fuzzing of the safetensors reader and of loading its tensors into a model:
/// every input must either parse into tensors whose sizes match their shapes (and load into
/// the model with finite weights) or throw ``CheckpointError`` / ``ModelLoadError``; a crash
/// fails the run. The corpus (`FuzzCorpus`) runs unmutated first.
@Suite struct SafeTensorsFuzzTests {
    @Test func safeTensorsReaderSurvivesMutatedFiles() throws {
        let directory = try #require(Bundle.module.url(forResource: "FuzzCorpus", withExtension: nil))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        let seeds = try names.map { [UInt8](try Data(contentsOf: directory.appendingPathComponent($0))) }
        try #require(!seeds.isEmpty)
        var mutator = FuzzMutator(seed: FuzzBudget.seed(0x5AFE))
        var parsed = 0, loaded = 0, rejected = 0
        for iteration in 0..<(FuzzBudget.scaled(40_000) + seeds.count) {
            let bytes = iteration < seeds.count ? seeds[iteration] : mutator.mutate(seeds[mutator.below(seeds.count)])
            let file: SafeTensorsFile
            do {
                file = try SafeTensorsFile(bytes: bytes)
            } catch {
                rejected += 1  // a CheckpointError: the initializer throws no other type
                continue
            }
            parsed += 1
            for (name, tensor) in file.tensors {
                #expect(tensor.scalarCount == tensor.shape.reduce(1, *), "\(name)")
                #expect(tensor.array.count == tensor.scalarCount, "\(name)")
            }
            var generator = SplitMix64(seed: 1)
            var model = Sequential([Linear(inputSize: 3, outputSize: 2, using: &generator)])
            do {
                try Checkpoint.assign(file.tensors, to: &model, path: "fuzz", architecture: "linear")
                #expect(model.parameters.values.allSatisfy { $0.array.allSatisfy(\.isFinite) })
                loaded += 1
            } catch {
                // A ModelLoadError: assign throws no other type.
            }
        }
        print("fuzz safetensors: \(parsed + rejected) executions, \(parsed) parsed (\(loaded) loaded into a model), \(rejected) rejected with CheckpointError")
        #expect(parsed >= seeds.count)
        #expect(loaded >= 1)
    }
}
