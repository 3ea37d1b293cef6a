import Foundation
import BulwarkCore
import BulwarkNN

/// Probability weighted word saliency (Ren, Deng, He and Che 2019, "Generating Natural Language
/// Adversarial Examples through Probability Weighted Word Saliency", ACL): a greedy
/// word-substitution attack on token sequences.
///
/// For a correctly classified sequence `x` with label `y` and every position `i` that is not
/// protected (stopwords) and has substitutes: the word saliency `S(x, wᵢ) = P(y|x) − P(y|x̂ᵢ)`
/// with `x̂ᵢ` the sequence with `wᵢ` replaced by `<unk>`, and the best substitute
/// `wᵢ* = argmax_{w′} P(y|x) − P(y|x with wᵢ ← w′)` with gain `ΔPᵢ*`. Positions are ranked by
/// `softmax(S)ᵢ · ΔPᵢ*` (eq. 8) and substituted greedily in that order until the prediction
/// changes, at most ``maximumChangeFraction`` of the tokens are changed, or ``queryBudget``
/// model evaluations (one per sequence scored) are spent. Substitutes come only from
/// ``substitutes`` (for example WordNet synonyms that are in the vocabulary).
public struct PWWS: Sendable {
    /// The candidate replacements of each token index.
    public var substitutes: [Int32: [Int32]]
    /// Tokens never replaced (stopwords).
    public var protectedTokens: Set<Int32>
    /// The index standing for an unknown word, used to measure saliency.
    public var unknownToken: Int32
    /// At most this fraction of a sequence's tokens may change (rounded down, at least one).
    public var maximumChangeFraction: Float
    /// At most this many model evaluations per example.
    public var queryBudget: Int

    /// Creates the attack.
    public init(substitutes: [Int32: [Int32]], protectedTokens: Set<Int32> = [], unknownToken: Int32 = 1,
                maximumChangeFraction: Float = 0.25, queryBudget: Int = 2_000) {
        precondition(maximumChangeFraction > 0 && maximumChangeFraction <= 1 && queryBudget >= 1,
                     "PWWS needs a change fraction in (0, 1] and a positive query budget")
        self.substitutes = substitutes
        self.protectedTokens = protectedTokens
        self.unknownToken = unknownToken
        self.maximumChangeFraction = maximumChangeFraction
        self.queryBudget = queryBudget
    }

    /// The outcome of attacking one sequence.
    public struct Result: Sendable, Equatable {
        /// The sequence attacked.
        public var original: [Int32]
        /// The final sequence (equal to `original` when nothing was substituted).
        public var adversarial: [Int32]
        /// Whether the model classified `original` correctly.
        public var originallyCorrect: Bool
        /// Whether the prediction of `adversarial` differs from the label (for an originally
        /// correct sequence).
        public var succeeded: Bool
        /// The number of positions changed.
        public var changedCount: Int
        /// Model evaluations spent.
        public var queries: Int
        /// P(y|x), the model's probability of the label on `original`.
        public var originalConfidence: Float
        /// The model's prediction on `adversarial`.
        public var adversarialPrediction: Int32
        /// The probability of ``adversarialPrediction`` on `adversarial`.
        public var adversarialConfidence: Float
    }

    /// Attacks `sequence` (token indices without padding) of class `label` against `model` in
    /// inference mode, evaluating candidate sequences in batches of up to `batchSize`.
    public func attack<Model: TextClassifier>(_ sequence: [Int32], label: Int32, against model: Model, minimumLength: Int = 1, batchSize: Int = 256) -> Result {
        var model = model.with(mode: .inference)
        var queries = 0
        func probabilities(_ sequences: [[Int32]]) -> [[Float]] {
            var result = [[Float]]()
            for start in stride(from: 0, to: sequences.count, by: batchSize) {
                let chunk = Array(sequences[start..<Swift.min(start + batchSize, sequences.count)])
                let rows = softmax(model(paddedSequences(chunk, minimumLength: minimumLength)))
                let classes = rows.shape[1]
                let scalars = rows.array
                result += (0..<chunk.count).map { Array(scalars[($0 * classes)..<(($0 + 1) * classes)]) }
            }
            queries += sequences.count
            return result
        }
        func predicted(_ row: [Float]) -> Int32 { Int32(row.indices.max { row[$0] < row[$1] } ?? 0) }

        let original = probabilities([sequence])[0]
        let originalPrediction = predicted(original)
        var result = Result(original: sequence, adversarial: sequence, originallyCorrect: originalPrediction == label,
                            succeeded: false, changedCount: 0, queries: queries, originalConfidence: original[Int(label)],
                            adversarialPrediction: originalPrediction, adversarialConfidence: original[Int(originalPrediction)])
        guard result.originallyCorrect else { return result }
        let confidence = original[Int(label)]

        // Saliency and best substitute of every eligible position, within the budget.
        let positions = sequence.indices.filter { !protectedTokens.contains(sequence[$0]) && !(substitutes[sequence[$0]] ?? []).isEmpty }
        var candidates = [[Int32]](), owners = [(position: Int, substitute: Int32?)]()
        for position in positions {
            var masked = sequence
            masked[position] = unknownToken
            candidates.append(masked)
            owners.append((position, nil))
            for substitute in substitutes[sequence[position]] ?? [] {
                var swapped = sequence
                swapped[position] = substitute
                candidates.append(swapped)
                owners.append((position, substitute))
            }
        }
        let affordable = Swift.max(0, queryBudget - queries)
        guard !candidates.isEmpty, affordable > 0 else { result.queries = queries; return result }
        let scored = probabilities(Array(candidates.prefix(affordable)))
        var saliency = [Int: Float](), best = [Int: (substitute: Int32, gain: Float)]()
        for (owner, row) in zip(owners, scored) {
            let gain = confidence - row[Int(label)]
            if let substitute = owner.substitute {
                if gain > best[owner.position]?.gain ?? -.infinity { best[owner.position] = (substitute, gain) }
            } else {
                saliency[owner.position] = gain
            }
        }
        let ranked = positions.filter { saliency[$0] != nil && best[$0] != nil }
        let largest = ranked.map { saliency[$0] ?? 0 }.max() ?? 0
        let normalizer = ranked.reduce(Float(0)) { $0 + Foundation.exp((saliency[$1] ?? 0) - largest) }
        let order = ranked.sorted { lhs, rhs in
            let left = Foundation.exp((saliency[lhs] ?? 0) - largest) / normalizer * (best[lhs]?.gain ?? 0)
            let right = Foundation.exp((saliency[rhs] ?? 0) - largest) / normalizer * (best[rhs]?.gain ?? 0)
            return left != right ? left > right : lhs < rhs
        }

        // Greedy substitution.
        let allowed = Swift.max(1, Int(Float(sequence.count) * maximumChangeFraction))
        var adversarial = sequence
        for position in order {
            guard result.changedCount < allowed, queries < queryBudget, let substitute = best[position]?.substitute else { break }
            adversarial[position] = substitute
            result.changedCount += 1
            let scores = probabilities([adversarial])[0]
            result.adversarialPrediction = predicted(scores)
            result.adversarialConfidence = scores[Int(result.adversarialPrediction)]
            if result.adversarialPrediction != label {
                result.succeeded = true
                break
            }
        }
        result.adversarial = adversarial
        result.queries = queries
        return result
    }
}

/// Token sequences padded with 0 into a `[count, length]` tensor.
private func paddedSequences(_ sequences: [[Int32]], minimumLength: Int) -> Tensor {
    let length = Swift.max(minimumLength, sequences.map(\.count).max() ?? 0, 1)
    var scalars = [Float](repeating: 0, count: sequences.count * length)
    for (row, sequence) in sequences.enumerated() {
        for (column, token) in sequence.enumerated() { scalars[row * length + column] = Float(token) }
    }
    return Tensor(shape: [sequences.count, length], scalars: scalars)
}
