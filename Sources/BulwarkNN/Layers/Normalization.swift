import BulwarkCore

/// Batch normalization over the channels of NCHW inputs (Ioffe and Szegedy 2015), PyTorch's
/// `nn.BatchNorm2d`.
///
/// Training mode normalizes with the batch's mean and biased variance and updates the running
/// statistics with `momentum` (PyTorch's convention: `running = (1 − momentum)·running +
/// momentum·batch`, the unbiased variance going into `running_var`). Inference mode uses the
/// running statistics; attacks always run it in inference mode.
///
/// Parameters: `weight` (γ) and `bias` (β), `[channels]`. State: `running_mean`,
/// `running_var` and `num_batches_tracked`, as in PyTorch's `state_dict`.
public struct BatchNorm2D: Layer {
    /// γ, `[channels]`.
    public var weight: Tensor
    /// β, `[channels]`.
    public var bias: Tensor
    /// The running mean, `[channels]`.
    public var runningMean: Tensor
    /// The running (unbiased) variance, `[channels]`.
    public var runningVariance: Tensor
    /// How many training batches have updated the statistics (a scalar, for PyTorch parity).
    public var batchesTracked: Tensor
    /// The weight of the newest batch in the running statistics.
    public var momentum: Float
    /// Added to the variance before the square root.
    public var epsilon: Float
    public var mode: LayerMode = .training

    /// Creates a layer with γ = 1, β = 0, running mean 0 and running variance 1.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = Tensor(repeating: 1, shape: [channels])
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVariance = Tensor(repeating: 1, shape: [channels])
        batchesTracked = Tensor(0)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let channels = weight.scalarCount
        precondition(input.rank == 4 && input.shape[1] == channels, "BatchNorm2D expects [N, \(channels), H, W], got \(input.shape)")
        let perChannel = [1, channels, 1, 1]
        let normalized: Tensor
        if mode == .training {
            let mean = input.mean(alongAxes: [0, 2, 3], keepingDims: true)
            let centered = input - mean
            let variance = centered.squared().mean(alongAxes: [0, 2, 3], keepingDims: true)
            normalized = centered / (variance + epsilon).sqrt()
            let count = Float(input.scalarCount / channels)
            let unbiased = variance.detached.reshaped(to: [channels]) * (count / Swift.max(count - 1, 1))
            runningMean = runningMean * (1 - momentum) + mean.detached.reshaped(to: [channels]) * momentum
            runningVariance = runningVariance * (1 - momentum) + unbiased * momentum
            batchesTracked = batchesTracked + 1
        } else {
            normalized = (input - runningMean.reshaped(to: perChannel)) / (runningVariance.reshaped(to: perChannel) + epsilon).sqrt()
        }
        return normalized * weight.reshaped(to: perChannel) + bias.reshaped(to: perChannel)
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("weight", &weight)
        visitor("bias", &bias)
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        visitor("running_mean", &runningMean)
        visitor("running_var", &runningVariance)
        visitor("num_batches_tracked", &batchesTracked)
    }
}

/// Per-channel standardization `(x − mean) / standardDeviation` as the first layer of a model,
/// so that models take inputs in `[0, 1]` and attacks work in pixel space.
public struct Normalize: ParameterlessLayer {
    /// The per-channel means.
    public var mean: [Float]
    /// The per-channel standard deviations.
    public var standardDeviation: [Float]

    /// Creates the layer; both arrays have one entry per channel.
    public init(mean: [Float], standardDeviation: [Float]) {
        precondition(mean.count == standardDeviation.count, "Normalize needs one mean and one deviation per channel")
        precondition(standardDeviation.allSatisfy { $0 > 0 }, "Normalize needs positive deviations")
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    public func forward(_ input: Tensor) -> Tensor {
        let shape = [1, mean.count, 1, 1]
        return (input - Tensor(shape: shape, scalars: mean)) / Tensor(shape: shape, scalars: standardDeviation)
    }
}
