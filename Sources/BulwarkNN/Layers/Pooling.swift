import BulwarkCore

/// Max pooling over square windows, PyTorch's `nn.MaxPool2d`.
public struct MaxPool2D: ParameterlessLayer {
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
        maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Average pooling over square windows, PyTorch's `nn.AvgPool2d`.
public struct AvgPool2D: ParameterlessLayer {
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
        avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}
