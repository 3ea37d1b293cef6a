import BulwarkCore

/// Labelled sentences or documents held in memory, before tokenization.
///
/// Load one with the readers (``loadGLUE(_:textColumn:labelColumn:classNames:)``,
/// ``loadMR(directory:)``, ``loadTREC(_:)``, ``loadAGNews(_:)``,
/// ``loadColumns(_:format:textColumn:labelColumn:classNames:)``), then tokenize and encode it
/// with ``EncodedTextDataset``.
public struct TextDataset: Sendable, Equatable {
    /// The raw text of each example.
    public var texts: [String]
    /// The class of each example, in `0..<classCount`.
    public var labels: [Int32]
    /// The name of each class, indexed by label.
    public var classNames: [String]

    /// The number of examples.
    public var count: Int { labels.count }
    /// The number of classes.
    public var classCount: Int { classNames.count }

    /// Creates a dataset.
    ///
    /// - Precondition: one label per text, each in `0..<classNames.count`.
    public init(texts: [String], labels: [Int32], classNames: [String]) {
        precondition(texts.count == labels.count, "TextDataset has \(texts.count) texts but \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classNames.count }, "TextDataset labels must lie in 0..<\(classNames.count)")
        self.texts = texts
        self.labels = labels
        self.classNames = classNames
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> TextDataset {
        TextDataset(texts: indices.map { texts[$0] }, labels: indices.map { labels[$0] }, classNames: classNames)
    }

    /// The first `maxLength` examples, or all of them if there are fewer.
    public func prefix(_ maxLength: Int) -> TextDataset {
        subset(Array(0..<Swift.min(maxLength, count)))
    }

    /// A seeded random split into `(kept, heldOut)`, with `heldOutFraction` of the examples
    /// (rounded down) held out; for datasets without an official split, such as MR.
    public func split<G: RandomNumberGenerator>(heldOutFraction: Double, using generator: inout G) -> (kept: TextDataset, heldOut: TextDataset) {
        precondition(heldOutFraction >= 0 && heldOutFraction < 1, "heldOutFraction must be in [0, 1), got \(heldOutFraction)")
        let order = Array(0..<count).shuffled(seededBy: &generator)
        let heldOutCount = Int(Double(count) * heldOutFraction)
        return (subset(Array(order[heldOutCount...])), subset(Array(order[..<heldOutCount])))
    }
}
