import BulwarkCore

/// Pooling over square windows, `Reduction` saying how a window is reduced: ``MaxPool2D`` and
/// ``AvgPool2D`` are its two kinds.
public struct Pool2D<Reduction: PoolingReduction>: ParameterlessLayer {
    /// The side of the square window.
    public var kernelSize: Int
    /// The step between windows.
    public var stride: Int
    /// Padding on every side.
    public var padding: Int

    /// Creates a pooling layer; the stride defaults to the window size.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func forward(_ input: Tensor) -> Tensor {
        Reduction.pool(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// How a ``Pool2D`` layer reduces each window of its input.
public protocol PoolingReduction: Sendable {
    /// `input` `[N, C, H, W]` pooled over `kernelSize`-sided windows `stride` apart, after
    /// `padding` on every side.
    static func pool(_ input: Tensor, kernelSize: Int, stride: Int, padding: Int) -> Tensor
}

/// A window's maximum (``maxPool2d(_:kernelSize:stride:padding:)``).
public enum MaximumPooling: PoolingReduction {
    public static func pool(_ input: Tensor, kernelSize: Int, stride: Int, padding: Int) -> Tensor {
        maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// A window's mean (``avgPool2d(_:kernelSize:stride:padding:)``).
public enum AveragePooling: PoolingReduction {
    public static func pool(_ input: Tensor, kernelSize: Int, stride: Int, padding: Int) -> Tensor {
        avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Max pooling over square windows, PyTorch's `nn.MaxPool2d`.
public typealias MaxPool2D = Pool2D<MaximumPooling>

/// Average pooling over square windows, PyTorch's `nn.AvgPool2d`.
public typealias AvgPool2D = Pool2D<AveragePooling>
