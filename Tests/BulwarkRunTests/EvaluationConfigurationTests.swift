import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkReport
import BulwarkRun
import Foundation
import Testing

@Suite struct EvaluationConfigurationTests {
    /// Messages name configuration fields; a front end renames them.
    @Test func errorsNameFieldsThatAFrontEndRenames() {
        var configuration = EvaluationConfiguration()
        configuration.parameters.stepSize = -1
        #expect(throws: ConfigurationError("`stepSize` must be positive, got -1.0")) { try configuration.validate() }
        configuration = EvaluationConfiguration()
        configuration.attacks = ["pgd", "cw-l2"]
        #expect(throws: ConfigurationError("cw-l2 is an L2 attack: add `norm` l2")) { try configuration.validate() }
        configuration.attacks = ["pgd,fgsm", "pgd"]
        #expect(throws: ConfigurationError("`attacks` lists an attack twice")) { try configuration.validate() }
        configuration.attacks = ["bogus"]
        #expect(throws: ConfigurationError("Unknown attack 'bogus'. Choose from: \(AttackRegistry.list), standard, none.")) {
            try configuration.validate()
        }
        configuration.attacks = ["pgd"]
        configuration.epsilons = []
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        let error = ConfigurationError("`batchSize` must be at least 1; `epsilon` too")
        #expect(error.message { "<\($0)>" } == "<batchSize> must be at least 1; <epsilon> too")
    }

    /// Every attack is registered once, in the command line's order, and builds for its name.
    @Test func theRegistryBuildsEveryAttackByName() throws {
        let names = AttackRegistry.registrations.map(\.name)
        #expect(names == ["fgsm", "pgd", "bim", "mi-fgsm", "gradient-ascent", "apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t",
                          "square", "deepfool", "cw-l2"])
        let threatModel = ThreatModel(norm: .l2, epsilon: 0.5)
        for name in names {
            let attack = try AttackRegistry.makeAttack(name, threatModel: threatModel, parameters: AttackParameters())
            #expect(!attack.name.isEmpty)
        }
        var parameters = AttackParameters()
        parameters.steps = 7
        parameters.restarts = 3
        let pgd = try #require(try AttackRegistry.makeAttack("pgd", threatModel: threatModel, parameters: parameters) as? PGD)
        #expect(pgd.steps == 7 && pgd.restarts == 3 && pgd.stepSize == 2.5 * 0.5 / 7)
        #expect(throws: ConfigurationError.self) { try AttackRegistry.makeAttack("nope", threatModel: threatModel, parameters: parameters) }
        var configuration = EvaluationConfiguration()
        configuration.attacks = ["standard", "none"]
        #expect(try configuration.attackNames() == ["apgd-ce", "apgd-t", "fab-t", "square"])
        #expect(configuration.resolvedStrategy == .ensemble)
        configuration.parameters = parameters
        #expect(configuration.label(ofAttack: "pgd") == "pgd-7×3")
    }

    /// The record an evaluation writes decodes to the same record: one type for the artifact.
    @Test func anEvaluationRecordWrittenReadsBack() throws {
        let reportJSON = """
            {"count": 4, "threatModel": {"norm": "linf", "epsilon": 0.1, "bounds": [0, 1]}, "strategy": "independent", "cleanAccuracy": 0.75,
             "cleanSeconds": 1, "worstCaseRobustAccuracy": 0.5, "brokenBy": [null, "pgd", null, "pgd"], "flags": [],
             "attacks": [{"name": "pgd", "robustAccuracy": 0.5, "adversarialAccuracy": 0.5, "maximumPerturbationNorm": 0.1,
                          "meanPerturbationNorm": 0.09, "attackedCount": 4, "seconds": 2, "robust": [true, false, true, false]}]}
            """
        let report = try JSONDecoder().decode(RobustnessReport.self, from: Data(reportJSON.utf8))
        let record = EvaluationRecord(report: report, model: "m.safetensors", architecture: "smallcnn", dataset: "mnist", split: "test",
                                      seed: 3, steps: 20, stepSize: 0.0125, restarts: 1, sanityChecks: true)
        let data = try JSONOutput.encode(record) { $0.outputFormatting = [.sortedKeys] }
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["model", "architecture", "dataset", "split", "count", "norm", "epsilon", "threat_model", "seed",
                                     "steps", "step_size", "restarts", "clean_accuracy", "robust_accuracy",
                                     "worst_case_robust_accuracy", "attacks", "attack_order", "strategy", "broken_by", "flags",
                                     "sanity_checks", "bulwark_version"])
        #expect(object["threat_model"] as? String == "Linf")
        #expect(object["broken_by"] as? [String: Int] == ["robust": 2, "pgd": 2])
        let read = try bulwarkJSONDecoder().decode(EvaluationRecord.self, from: data)
        #expect(read.attacks["pgd"]?.imagesPerSecond == 2 && read.attacks["pgd"]?.attackedCount == 4)
        #expect(read.bulwarkVersion == bulwarkVersion && read.worstCaseRobustAccuracy == 0.5 && read.orderedAttackNames == ["pgd"])
    }
}
