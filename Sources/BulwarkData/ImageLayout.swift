/// Where the channel axis of a four-dimensional image array lies.
///
/// PyTorch and Bulwark store images channels-first (`N×C×H×W`); TensorFlow, Keras and most
/// image libraries channels-last (`N×H×W×C`). A reader that is not told guesses with
/// ``inferred(from:)``.
public enum ImageLayout: String, Sendable, Codable, CaseIterable {
    /// `N×C×H×W`.
    case channelsFirst = "nchw"
    /// `N×H×W×C`.
    case channelsLast = "nhwc"

    /// The layout of an array of `shape` `[N, a, b, c]`: channels-last when the last extent
    /// is 1 or 3 (grayscale or RGB) and the second is not, channels-first otherwise. An image
    /// array whose height is 1 or 3 is ambiguous: pass the layout explicitly.
    public static func inferred(from shape: [Int]) -> ImageLayout {
        precondition(shape.count == 4, "a layout is inferred from a rank-4 shape, got \(shape)")
        let channelCounts: Set<Int> = [1, 3]
        return channelCounts.contains(shape[3]) && !channelCounts.contains(shape[1]) ? .channelsLast : .channelsFirst
    }
}
