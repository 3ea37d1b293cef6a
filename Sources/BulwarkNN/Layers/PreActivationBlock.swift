import BulwarkCore

/// The basic residual block of a pre-activation ResNet (He, Zhang, Ren and Sun 2016,
/// "Identity mappings in deep residual networks", Fig. 4(e)): batch normalization and ReLU
/// come before each convolution, and nothing follows the addition.
///
/// `y = conv₂(relu(bn₂(conv₁(a)))) + s`, where `a = relu(bn₁(x))` and the shortcut `s` is `x`
/// itself when the shape is kept, or a 1 × 1 convolution of `a` with the block's stride when
/// the stride is not 1 or the channel count changes (the projection shortcut of He et al.'s
/// option B, taken from the pre-activated input as in the code of Wong, Rice and Kolter 2020
/// and Rice, Wong and Kolter 2020). Both 3 × 3 convolutions pad by 1 and have no bias; the
/// first carries the stride.
///
/// Parameter and state paths equal the `state_dict` of that code's `PreActBlock`:
/// ```python
/// class PreActBlock(nn.Module):
///     def __init__(self, in_planes, planes, stride=1):
///         self.bn1 = nn.BatchNorm2d(in_planes)
///         self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
///         self.bn2 = nn.BatchNorm2d(planes)
///         self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
///         if stride != 1 or in_planes != planes:
///             self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))
/// ```
/// (`bn1.weight`, `bn1.running_mean`, …, `conv1.weight`, `bn2.…`, `conv2.weight`,
/// `shortcut.0.weight`).
public struct PreActivationBlock: Layer {
    /// bn₁, over the input's channels (`bn1`).
    public var firstNormalization: BatchNorm2D
    /// conv₁, 3 × 3 with the block's stride (`conv1`).
    public var firstConvolution: Conv2D
    /// bn₂, over the output's channels (`bn2`).
    public var secondNormalization: BatchNorm2D
    /// conv₂, 3 × 3 with stride 1 (`conv2`).
    public var secondConvolution: Conv2D
    /// The 1 × 1 projection shortcut (`shortcut.0`), or `nil` for the identity.
    public var projection: Conv2D?

    /// The mode of the block's batch normalizations; setting it sets both.
    public var mode: LayerMode = .training {
        didSet {
            firstNormalization.mode = mode
            secondNormalization.mode = mode
            firstConvolution.mode = mode
            secondConvolution.mode = mode
            projection?.mode = mode
        }
    }

    /// Creates a block initialized as PyTorch does (convolutions uniform in `±1/√fan-in`,
    /// γ = 1, β = 0), with a projection shortcut when `stride != 1` or the channel count changes.
    ///
    /// - Parameters:
    ///   - inputChannels: The channels of the input (`in_planes`).
    ///   - outputChannels: The channels of the output (`planes`).
    ///   - stride: The stride of the first convolution and the shortcut: 2 halves the height
    ///     and width.
    ///   - generator: The source of the initial weights.
    public init<G: RandomNumberGenerator>(
        inputChannels: Int, outputChannels: Int, stride: Int = 1, using generator: inout G
    ) {
        firstNormalization = BatchNorm2D(channels: inputChannels)
        firstConvolution = Conv2D(
            inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, stride: stride,
            padding: 1, hasBias: false, using: &generator)
        secondNormalization = BatchNorm2D(channels: outputChannels)
        secondConvolution = Conv2D(
            inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1,
            hasBias: false, using: &generator)
        projection = stride != 1 || inputChannels != outputChannels
            ? Conv2D(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, stride: stride,
                     hasBias: false, using: &generator)
            : nil
    }

    /// Maps `[N, inputChannels, H, W]` to `[N, outputChannels, H / stride, W / stride]`
    /// (rounded up).
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let activated = firstNormalization(input).relu()
        let shortcut = projection.map { projection in
            var projection = projection
            return projection(activated)
        } ?? input
        let hidden = secondNormalization(firstConvolution(activated)).relu()
        return secondConvolution(hidden) + shortcut
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        firstNormalization.visitParameters { visitor("bn1." + $0, &$1) }
        firstConvolution.visitParameters { visitor("conv1." + $0, &$1) }
        secondNormalization.visitParameters { visitor("bn2." + $0, &$1) }
        secondConvolution.visitParameters { visitor("conv2." + $0, &$1) }
        projection?.visitParameters { visitor("shortcut.0." + $0, &$1) }
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        firstNormalization.visitState { visitor("bn1." + $0, &$1) }
        secondNormalization.visitState { visitor("bn2." + $0, &$1) }
    }
}
