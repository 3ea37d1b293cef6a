import BulwarkCore
import BulwarkNN
import BulwarkTraining

/// The text classifiers text training builds.
public enum TextArchitecture: String, Codable, CaseIterable, Sendable {
    case bag, textcnn, bilstm, transformer

    /// A freshly initialized model of this architecture.
    public func makeModel(vocabularySize: Int, classCount: Int, configuration: TextModelConfiguration, using generator: inout SplitMix64) -> any TextClassifier {
        switch self {
        case .bag:
            EmbeddingBagClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, classCount: classCount, using: &generator)
        case .textcnn:
            TextCNN(vocabularySize: vocabularySize, dimension: configuration.dimension, classCount: classCount,
                    widths: configuration.widths, filters: configuration.filters,
                    dropoutProbability: configuration.dropout, using: &generator)
        case .bilstm:
            BiLSTMClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, hiddenSize: configuration.hiddenSize ?? 100,
                             classCount: classCount, dropoutProbability: configuration.dropout, using: &generator)
        case .transformer:
            TransformerClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, heads: configuration.heads ?? 4,
                                  feedforwardSize: configuration.feedforwardSize ?? 256, layerCount: configuration.layerCount ?? 2,
                                  classCount: classCount, maximumLength: configuration.maximumLength ?? 128,
                                  dropoutProbability: configuration.dropout, using: &generator)
        }
    }
}

/// The sizes of a text model, recorded in its checkpoint so that evaluation can rebuild it.
public struct TextModelConfiguration: Codable, Equatable, Sendable {
    public var dimension: Int
    public var widths: [Int]
    public var filters: Int
    public var dropout: Float
    public var hiddenSize: Int?
    public var heads: Int?
    public var layerCount: Int?
    public var feedforwardSize: Int?
    /// Sequences are truncated to this many tokens (the Transformer's positions).
    public var maximumLength: Int?

    public init(dimension: Int, widths: [Int], filters: Int, dropout: Float, hiddenSize: Int? = nil, heads: Int? = nil,
                layerCount: Int? = nil, feedforwardSize: Int? = nil, maximumLength: Int? = nil) {
        self.dimension = dimension
        self.widths = widths
        self.filters = filters
        self.dropout = dropout
        self.hiddenSize = hiddenSize
        self.heads = heads
        self.layerCount = layerCount
        self.feedforwardSize = feedforwardSize
        self.maximumLength = maximumLength
    }
}
