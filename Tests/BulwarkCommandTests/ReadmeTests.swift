import Foundation
import Testing

/// The README's shell examples are what new users copy first: every option they use must be
/// one the command accepts, and every run they read must be one an earlier example makes.
@Suite struct ReadmeTests {
    /// One `$B …` command of the README's `sh` blocks, continuation lines joined, comments cut.
    struct ExampleCommand: CustomStringConvertible {
        var words: [String]
        var line: Int
        var description: String { "README line \(line): " + words.joined(separator: " ") }
        var subcommand: String { words.count > 1 ? words[1] : "" }
        var isTextTask: Bool { zip(words, words.dropFirst()).contains { $0 == "--task" && $1 == "text" } }
        var options: [String] { words.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=")[0]) } }

        /// The values following `option` up to the next option.
        func values(of option: String) -> [String] {
            guard let start = words.firstIndex(of: option) else { return [] }
            return Array(words[(start + 1)...].prefix { !$0.hasPrefix("--") })
        }
    }

    static func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }

    static func exampleCommands() throws -> [ExampleCommand] {
        var commands: [ExampleCommand] = []
        var inShellBlock = false
        var pending = "", pendingLine = 0
        for (number, rawLine) in try readme().components(separatedBy: "\n").enumerated() {
            if rawLine.hasPrefix("```") { inShellBlock = rawLine == "```sh"; continue }
            guard inShellBlock else { continue }
            var line = rawLine
            if let comment = line.range(of: " #") ?? (line.hasPrefix("#") ? line.range(of: "#") : nil) {
                line = String(line[..<comment.lowerBound])
            }
            if pending.isEmpty { pendingLine = number + 1 }
            pending += " " + line
            if pending.hasSuffix("\\") { pending.removeLast(); continue }
            for part in pending.components(separatedBy: "&&").flatMap({ $0.components(separatedBy: ";") }) {
                let words = part.split(separator: " ").map(String.init)
                if words.first == "$B" { commands.append(ExampleCommand(words: words, line: pendingLine)) }
            }
            pending = ""
        }
        return commands
    }

    @Test func everyExampleOptionIsAccepted() throws {
        let commands = try Self.exampleCommands()
        #expect(commands.count > 30, "the README's examples were not found")
        var helpTexts: [String: String] = [:]
        for command in commands {
            let arguments = [command.subcommand] + (command.isTextTask ? ["--task", "text"] : []) + ["--help"]
            let key = arguments.joined(separator: " ")
            if helpTexts[key] == nil {
                let result = try runBulwark(arguments)
                #expect(result.status == 0, "bulwark \(key) failed: \(result.error)")
                helpTexts[key] = result.output + result.error
            }
            let help = helpTexts[key] ?? ""
            for option in command.options {
                let listed = help.range(of: option + "(?![a-z-])", options: .regularExpression) != nil
                #expect(listed, "\(command): \(option) is not an option of bulwark \(key)")
            }
        }
    }

    @Test func everyRunReadIsOneMadeEarlier() throws {
        var made: Set<String> = []
        func runDirectory(_ path: String) -> String? {
            guard path.hasPrefix("runs/") else { return nil }
            return path.split(separator: "/").prefix(2).joined(separator: "/")
        }
        for command in try Self.exampleCommands() {
            var read = command.values(of: "--model") + command.values(of: "--resume") + command.values(of: "--compare")
            if command.subcommand == "report", command.words.count > 2 { read.append(command.words[2]) }
            for path in read {
                guard let run = runDirectory(path) else { continue }
                #expect(made.contains(run), "\(command): reads \(run), which no earlier example makes")
            }
            if command.subcommand == "train", let run = command.values(of: "--out").first.flatMap(runDirectory) {
                made.insert(run)
            }
        }
    }

    @Test func speaksOfTheProjectOnly() throws {
        let readme = try Self.readme().lowercased()
        for phrase in ["the issue", "shared folder", "session"] {
            let mentioned = readme.contains(phrase)
            #expect(!mentioned, "the README mentions \"\(phrase)\"")
        }
    }
}
