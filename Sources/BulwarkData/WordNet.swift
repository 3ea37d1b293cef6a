import Foundation

/// Synonyms from WordNet (Miller 1995): two words are synonyms when they share a synset.
///
/// Reads the lexicographer data files `data.noun`, `data.verb`, `data.adj` and `data.adv` of a
/// WordNet 3.0 database directory (Debian's `wordnet-base` installs them in
/// `/usr/share/wordnet`). Only single-word lemmas count (no `_`); lemmas are lower-cased and
/// adjective markers such as `(a)` dropped.
public struct WordNetSynonyms: Sendable {
    private var synonymsByWord: [String: Set<String>]

    /// The data files read from a WordNet directory.
    public static let dataFiles = ["data.noun", "data.verb", "data.adj", "data.adv"]

    /// Builds the relation from synsets, each a list of lemmas.
    public init(synsets: [[String]]) {
        var table = [String: Set<String>]()
        for synset in synsets {
            let words = Set(synset.map { $0.lowercased() }.filter { !$0.contains("_") && !$0.isEmpty })
            for word in words { table[word, default: []].formUnion(words.subtracting([word])) }
        }
        synonymsByWord = table
    }

    /// Reads the data files in `directory`.
    ///
    /// - Throws: ``TextDataError/filesNotFound(dataset:directory:missing:)`` naming the missing
    ///   data files, ``TextDataError/malformedLine(path:line:reason:)`` for a synset line that
    ///   does not parse.
    public init(directory: String) throws {
        let paths = Self.dataFiles.map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
        let missing = zip(Self.dataFiles, paths).filter { !FileManager.default.fileExists(atPath: $0.1) }.map(\.0)
        guard missing.isEmpty else {
            throw TextDataError.filesNotFound(dataset: "WordNet (Debian package wordnet-base)", directory: directory, missing: missing)
        }
        var synsets = [[String]]()
        for path in paths {
            for line in try readLines(atPath: path, encoding: .latin1) where !line.text.hasPrefix(" ") && !line.text.isEmpty {
                let fields = line.text.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 4, let count = Int(fields[3], radix: 16), fields.count >= 4 + 2 * count else {
                    throw TextDataError.malformedLine(path: path, line: line.number, reason: "not a WordNet synset line (offset, lexicographer file, type, hexadecimal word count, words)")
                }
                synsets.append((0..<count).map { index in
                    let lemma = fields[4 + 2 * index]
                    return String(lemma.split(separator: "(").first ?? lemma)
                })
            }
        }
        self.init(synsets: synsets)
    }

    /// The synonyms of `word` (lower-cased), sorted, without the word itself.
    public func synonyms(of word: String) -> [String] {
        (synonymsByWord[word.lowercased()] ?? []).sorted()
    }
}

/// Common English function words that word-substitution attacks leave alone (PWWS excludes
/// stopwords so that the meaning is kept).
public let englishStopwords: Set<String> = [
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "n't", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves", "'s", "'re", "'ve", "'ll", "'d", "'m",
]
