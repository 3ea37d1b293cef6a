import ArgumentParser
import Bulwark

/// The flag of a configuration or job field: `--` and the field in kebab case, but for a few.
func flag(for field: String) -> String {
    irregularFlags[field] ?? "--" + field.reduce(into: "") { $0 += $1.isUppercase ? "-" + $1.lowercased() : String($1) }
}

/// The fields whose flag is not their name in kebab case.
private let irregularFlags = [
    "dataDirectory": "--data-dir", "finalEvaluationCount": "--final-eval-count", "stopAfterEpoch": "--stop-after",
    "outputDirectory": "--out", "clipsStart": "--unclipped-start", "attacks": "--attack", "wordnetDirectory": "--wordnet-dir",
    "dataPath": "--data", "testDataPath": "--test-data", "modelPath": "--model", "standardDeviation": "--std",
]

/// The command-line words that give `field` `value` (the manifest's text; `nil` unset).
func flagWords(_ field: String, _ value: String?) -> [String] {
    switch (field, value) {
    case (_, nil), ("clipsStart", "true"?), ("overfittingGuard", "false"?): []
    case ("clipsStart", _), ("overfittingGuard", _): [flag(for: field)]
    case (let field, let value?) where invertibleSwitches.contains(field):
        [value == "true" ? flag(for: field) : invertedFlag(for: field)]
    case (_, let value?): [flag(for: field), value]
    }
}

/// The flag that sets the Boolean `field` to false (`--no-random-start`).
func invertedFlag(for field: String) -> String { "--no-" + flag(for: field).dropFirst(2) }

/// The Boolean fields whose flag has a `--no-` inversion.
private let invertibleSwitches: Set<String> = ["randomStart", "augment", "bucketing"]

/// The fields of `Configuration` that the flags among `arguments` set, whatever their spelling
/// (`--no-random-start`, `--alpha=0.1`).
func fields<Configuration: RecordedConfiguration>(of _: Configuration.Type, givenIn arguments: [String]) -> Set<String> {
    let fields = Dictionary(Configuration.fields.map { (flag(for: $0), $0) }) { first, _ in first }
    return Set(arguments.filter { $0.hasPrefix("--") }.flatMap { word in
        let name = String(word.prefix { $0 != "=" })
        return (flagAliases[name] ?? [name.hasPrefix("--no-") ? "--" + name.dropFirst(5) : name]).compactMap { fields[$0] }
    })
}

/// Other spellings of flags. `--model` names an architecture or, in `bulwark train`, an ONNX
/// file (``ImageTrainingConfiguration/modelPath``), so it may give either field.
private let flagAliases = ["--model": ["--architecture", "--model"], "--alpha": ["--step-size"], "--eps": ["--epsilon"]]

/// The message of `error` with the fields it names written as options (a Boolean field of
/// either value as both of its flags).
func commandLine(_ error: ConfigurationError) -> String {
    error.message(naming: flag(for:)) { "\(flag(for: $0)) and \(invertedFlag(for: $0))" }
}

/// An error of the library whose message names fields, with the message naming options.
struct FlagNamedError: Error, CustomStringConvertible { var description: String }

/// `error` as the command line reports it: a ``ConfigurationError`` as a validation error, and
/// the library's errors that name configuration fields with those fields written as options.
func namingFlags(_ error: any Error) -> any Error {
    if let error = error as? ConfigurationError { return ValidationError(commandLine(error)) }
    let libraryError = String(reflecting: type(of: error)).hasPrefix("Bulwark")
    let text = String(describing: error)
    guard libraryError, text.contains("`") else { return error }
    return FlagNamedError(description: ConfigurationError(text).message(namingFields: flag(for:)))
}

/// `body`'s result; a ``ConfigurationError`` or ``ResumptionConflict`` becomes a validation
/// error naming options.
func flagged<Result>(_ body: () throws -> Result) throws -> Result {
    do { return try body() } catch let error as ConfigurationError {
        throw ValidationError(commandLine(error))
    } catch let error as ResumptionConflict {
        throw ValidationError(error.message(naming: flag(for:), setting: setting))
    }
}

/// `field` given `value` as a message writes it: its command-line words, or "no" and its flag
/// when unset.
private func setting(_ field: String, _ value: String?) -> String {
    let words = flagWords(field, value)
    return words.isEmpty ? "no " + flag(for: field) : words.joined(separator: " ")
}

/// Rejects values outside a range with a message naming the option.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ValidationError(message()) }
}
