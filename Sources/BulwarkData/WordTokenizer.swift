/// A deterministic word tokenizer for English text classification.
///
/// The rules, applied to the lower-cased text:
/// - whitespace separates tokens;
/// - every punctuation mark is a token of its own, except a hyphen, period or comma between
///   two letters or digits (`jean-claude`, `3.5`, `1,000` stay whole);
/// - contractions split as in the Penn Treebank: `don't` → `do`, `n't`; `he's` → `he`, `'s`
///   (also `'re`, `'ve`, `'ll`, `'d`, `'m`); the typographic apostrophe `’` counts as `'`.
///
/// Already tokenized text (SST-2, MR, TREC) passes through unchanged: `it 's` stays `it`, `'s`.
/// The output depends only on the input string, never on locale or platform.
public struct WordTokenizer: Sendable, Equatable {
    /// Whether text is lower-cased before splitting.
    public var lowercases: Bool

    /// Creates a tokenizer.
    public init(lowercases: Bool = true) {
        self.lowercases = lowercases
    }

    /// The clitics split off the end of a word (after `n't`, which is checked first).
    private static let clitics: Set<String> = ["'s", "'re", "'ve", "'ll", "'d", "'m"]

    /// The tokens of `text`, in order.
    public func tokenize(_ text: String) -> [String] {
        let characters = Array((lowercases ? text.lowercased() : text).map { $0 == "\u{2019}" ? "'" : $0 })
        var tokens = [String]()
        var word = ""
        func flush() {
            guard !word.isEmpty else { return }
            tokens.append(contentsOf: Self.splitContractions(word))
            word = ""
        }
        for (position, character) in characters.enumerated() {
            let next: Character? = position + 1 < characters.count ? characters[position + 1] : nil
            if character.isWhitespace {
                flush()
            } else if character.isLetter || character.isNumber {
                word.append(character)
            } else if character == "'" {
                // An apostrophe that starts or continues a word (`n't`, `'s`, `o'clock`) stays in it.
                if let next, next.isLetter {
                    word.append(character)
                } else {
                    flush()
                    tokens.append("'")
                }
            } else if (character == "-" || character == "." || character == ","),
                      let last = word.last, last.isLetter || last.isNumber,
                      let next, next.isLetter || next.isNumber {
                word.append(character)
            } else {
                flush()
                tokens.append(String(character))
            }
        }
        flush()
        return tokens
    }

    /// `don't` → `do`, `n't`; `he's` → `he`, `'s`; a leading quote becomes its own token.
    private static func splitContractions(_ word: String) -> [String] {
        if word.hasSuffix("n't"), word.count > 3 {
            return splitContractions(String(word.dropLast(3))) + ["n't"]
        }
        if let apostrophe = word.lastIndex(of: "'"), apostrophe != word.startIndex,
           clitics.contains(String(word[apostrophe...])) {
            return splitContractions(String(word[..<apostrophe])) + [String(word[apostrophe...])]
        }
        if word.first == "'", word != "n't", !clitics.contains(word) {
            return ["'"] + splitContractions(String(word.dropFirst()))
        }
        return word.isEmpty ? [] : [word]
    }
}
