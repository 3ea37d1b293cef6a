import Foundation

extension RecordedConfiguration {
    /// The configuration that continues the run whose manifest `data` in `directory` records:
    /// the run's own, with the values of the `given` fields taken from `options`; and the
    /// fields in which it then differs from the run's. A resumed run may change only where its
    /// data comes from (`dataDirectory`) and its final evaluation (`finalEvaluationCount`), so
    /// any other difference is a conflict to refuse.
    ///
    /// - Throws: ``ConfigurationError`` when the manifest holds no configuration of this type.
    public static func resuming(
        recordedIn data: Data, in directory: String, replacing given: Set<String>, from options: Self
    ) throws -> (configuration: Self, conflicts: [ConfigurationDifference]) {
        let recorded = try TrainingManifest.configuration(Self.self, from: data, in: directory)
        let configuration = try recorded.replacing(given, from: options)
        let conflicts = try configuration.resolved().differences(from: recorded.resolved(), ignoring: ["dataDirectory", "finalEvaluationCount"])
        return (configuration, conflicts)
    }
}
