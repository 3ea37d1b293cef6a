import BulwarkRun
import Foundation
import Testing

@Suite struct TrainingConfigurationTests {
    /// A PGD-AT configuration as the command line builds it, defaults left to `resolved()`.
    private var pgd: ImageTrainingConfiguration {
        var configuration = ImageTrainingConfiguration()
        (configuration.method, configuration.epsilon, configuration.epochs) = (.pgd, 0.25, 3)
        return configuration
    }

    @Test func resolvedFillsEachMethodsDefaultsAndClearsWhatItDoesNotUse() {
        let resolved = pgd.resolved()
        #expect(resolved.steps == 7 && resolved.stepSize == 2.5 * 0.25 / 7 && resolved.randomStart == true)
        #expect(resolved.beta == nil && resolved.replays == nil && resolved.clipsStart == nil && resolved.momentum == nil)
        #expect(resolved.schedule == .cyclic && resolved.augment == false && resolved.finalEvaluationCount == 1000)

        var awp = pgd
        (awp.method, awp.awpInner, awp.steps) = (.awp, .trades, 4)
        let awpResolved = awp.resolved()
        #expect(awpResolved.awpGamma == 0.005 && awpResolved.beta == 6 && awpResolved.randomStart == nil && awpResolved.steps == 4)

        var fast = pgd
        (fast.method, fast.steps, fast.optimizer) = (.fast, 5, .sgd)
        let fastResolved = fast.resolved()
        #expect(fastResolved.stepSize == 1.25 * 0.25 && fastResolved.steps == nil && fastResolved.clipsStart == true && fastResolved.momentum == 0.9)

        var text = TextTrainingConfiguration(dataset: .mr, dataDirectory: "/data/mr")
        (text.method, text.architecture, text.steps) = (.fgm, .transformer, 5)
        let textResolved = text.resolved()
        #expect(textResolved.steps == nil && textResolved.perturbationSite == .embeddedSequence && textResolved.splitSeed == 0)
        #expect(textResolved.learningRate == 1e-3 && textResolved.maximumLength == 128 && textResolved.heads == 4 && textResolved.widths == nil)
    }

    @Test func validationNamesTheFieldAtFault() {
        var negative = pgd
        negative.stepSize = -1
        #expect(throws: ConfigurationError.self) { try negative.validate() }
        #expect(fields(of: negative) == ["stepSize"])
        #expect("\(error(of: negative)!)" == "`stepSize` must be positive, got -1.0")

        var misplaced = pgd
        misplaced.beta = 3
        #expect(fields(of: misplaced) == ["beta", "method", "awpInner"])
        let message = error(of: misplaced)?.message(naming: { "--" + $0 }, eitherValue: { $0 })
        #expect(message == "--beta applies to --method trades, mart and awp with --awpInner trades, not pgd")

        var text = TextTrainingConfiguration(dataset: .tsv, dataDirectory: "/data")
        text.proximalMomentum = 1
        #expect(throws: ConfigurationError.self) { try text.validate() }
        #expect((try? pgd.validate()) != nil, "a valid configuration passes")
    }

    @Test func runJSONIsTheConfigurationsEncodingWithNumbersAndBooleans() throws {
        let configuration = pgd.resolved()
        let data = try TrainingManifest.encode(configuration, facts: ["train_count": "900"], command: "bulwark train --method pgd")
        let text = String(decoding: data, as: UTF8.self)
        for entry in ["\"epochs\" : 3,", "\"epsilon\" : 0.25,", "\"random_start\" : true,", "\"steps\" : 7,", "\"seed\" : 0,",
                      "\"train_count\" : 900,", "\"method\" : \"pgd\",", "\"command\" : \"bulwark train --method pgd\","] {
            #expect(text.contains(entry), "run.json lacks \(entry): \(text)")
        }
        #expect(try TrainingManifest.configuration(ImageTrainingConfiguration.self, from: data, in: "run") == configuration)

        var textConfiguration = TextTrainingConfiguration(dataset: .tsv, dataDirectory: "/data")
        (textConfiguration.method, textConfiguration.proximalMomentum) = (.smart, 0.9)
        let resolved = textConfiguration.resolved()
        let textData = try TrainingManifest.encode(resolved, facts: ["task": "text"], command: "bulwark train --task text")
        #expect(String(decoding: textData, as: UTF8.self).contains("\"widths\" : [\n    3,\n    4,\n    5\n  ]"))
        #expect(try TrainingManifest.configuration(TextTrainingConfiguration.self, from: textData, in: "run") == resolved)
        #expect(try TrainingManifest.isTextRun(TrainingManifest.entries(of: textData, in: "run")))
    }

    @Test func manifestsOfEarlierVersionsWithTextValuesDecode() throws {
        let old = """
            {"dataset": "idx", "architecture": "mlp", "method": "fast", "epsilon": "0.1", "norm": "linf", "step_size": "0.125",
             "random_start": "true", "clips_start": "true", "epochs": "2", "batch_size": "50", "optimizer": "adam",
             "learning_rate": "0.001", "schedule": "cyclic", "seed": "3", "validation_count": "100", "validation_steps": "2",
             "weight_decay": "0", "augmentation": "random crop (4-pixel zero padding), horizontal flip"}
            """
        let configuration = try TrainingManifest.configuration(ImageTrainingConfiguration.self, from: Data(old.utf8), in: "old")
        #expect(configuration.epochs == 2 && configuration.seed == 3 && configuration.randomStart == true && configuration.augment == true)
        #expect(throws: ConfigurationError.self) {
            try TrainingManifest.configuration(ImageTrainingConfiguration.self, from: Data(#"{"dataset": "idx"}"#.utf8), in: "old")
        }
        // A text manifest from before the model's sizes were fields: they come from its model configuration.
        let oldText = #"""
            {"task": "text", "dataset": "mr", "data_dir": "/data/mr", "architecture": "textcnn", "method": "fgm", "epsilon": 0.5,
             "epochs": 2, "batch_size": 50, "learning_rate": 0.002, "seed": 0, "train_count": 300, "split_seed": 0,
             "perturbation_site": "sequence", "validation_steps": 0, "bucketing": true, "minimum_frequency": 2,
             "model_configuration": "{\"dimension\":8,\"dropout\":0.5,\"filters\":4,\"widths\":[3,4,5]}"}
            """#
        let text = try TrainingManifest.configuration(TextTrainingConfiguration.self, from: Data(oldText.utf8), in: "old")
        #expect(text.embeddingDimension == 8 && text.filters == 4 && text.widths == [3, 4, 5] && text.trainCount == 300 && text.method == .fgm)
        // Those manifests recorded ε of standard runs and the columns of generic files only in their command.
        let oldGeneric = #"""
            {"task": "text", "dataset": "csv", "data_dir": "/data/reviews", "architecture": "bag", "method": "standard",
             "epochs": 2, "batch_size": 50, "learning_rate": 0.002, "seed": 0, "train_count": 300, "validation_steps": 3,
             "bucketing": true, "minimum_frequency": 2, "model_configuration": "{\"dimension\":8,\"dropout\":0.5,\"filters\":4,\"widths\":[3]}",
             "command": "bulwark train --task text --dataset csv --data-dir /data/reviews --text-column 'the review' --label-column stars --architecture bag --method standard --epsilon 0.25 --out runs/x"}
            """#
        let generic = try TrainingManifest.configuration(TextTrainingConfiguration.self, from: Data(oldGeneric.utf8), in: "old")
        #expect(generic.epsilon == 0.25 && generic.textColumn == "the review" && generic.labelColumn == "stars")
    }

    @Test func aManifestLackingARequiredFieldNamesIt() throws {
        func message<Configuration: Decodable>(_ type: Configuration.Type, _ json: String) -> String? {
            do { _ = try TrainingManifest.configuration(type, from: Data(json.utf8), in: "old") } catch { return "\(error)" }
            return nil
        }
        let image = try #require(message(ImageTrainingConfiguration.self, #"{"dataset": "idx", "architecture": "mlp", "method": "fast", "epsilon": 0.1}"#))
        #expect(image.contains("(it lacks epochs)"), "\(image)")
        let text = try #require(message(TextTrainingConfiguration.self, #"""
            {"task": "text", "dataset": "mr", "data_dir": "/data/mr", "architecture": "bag", "method": "fgm", "epsilon": 0.5,
             "embedding_dimension": 8, "epochs": 2, "batch_size": 50}
            """#))
        #expect(text.contains("(it lacks seed)"), "\(text)")
    }

    @Test func resumingComparesConfigurationsFieldByField() throws {
        let saved = pgd.resolved()
        var given = ImageTrainingConfiguration()
        (given.epochs, given.randomStart, given.dataDirectory) = (4, false, "/elsewhere")
        let resumed = try saved.replacing(["epochs", "randomStart", "dataDirectory"], from: given)
        #expect(resumed.epochs == 4 && resumed.dataDirectory == "/elsewhere" && resumed.method == .pgd && resumed.steps == 7)
        let differences = try resumed.resolved().differences(from: saved, ignoring: ["dataDirectory"])
        #expect(differences == [
            ConfigurationDifference(field: "randomStart", value: "false", otherValue: "true"),
            ConfigurationDifference(field: "epochs", value: "4", otherValue: "3"),
        ])
        #expect(try saved.replacing([], from: given).differences(from: saved).isEmpty)
    }

    private func error(of configuration: ImageTrainingConfiguration) -> ConfigurationError? {
        do { try configuration.validate() } catch { return error }
        return nil
    }

    private func fields(of configuration: ImageTrainingConfiguration) -> [String] { error(of: configuration)?.fields ?? [] }
}
