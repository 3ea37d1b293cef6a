import BulwarkCore
import BulwarkNN

// The operator table: which operators run, which inputs only configure them, and dispatch to
// the operator families (one file each).

extension ONNXNode {
    /// The operators of the default domain that run, as emitted by `torch.onnx.export` and
    /// tf2onnx for image classifiers (opsets 11–21).
    static let supportedOperators: Set<String> = [
        // Convolution and matrix products.
        "Conv", "Gemm", "MatMul",
        // Elementwise arithmetic and activations.
        "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Exp", "Log", "Abs",
        "Relu", "LeakyRelu", "PRelu", "Elu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
        "Softmax", "LogSoftmax", "Clip",
        // Pooling and normalization.
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Dropout",
        "ReduceMean", "ReduceSum",
        // Shapes and constants.
        "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Pad", "Identity", "Constant",
        "Shape", "Gather", "Slice", "Cast", "ConstantOfShape", "Range", "Expand",
    ]

    /// Positions of inputs that configure the operator (shapes, axes, bounds) rather than carry
    /// data: an initializer read only there is a constant, not a parameter.
    var configurationInputs: Set<Int> {
        switch opType {
        case "Reshape", "Expand", "Squeeze", "Unsqueeze", "Gather": [1]
        case "ReduceMean", "ReduceSum": [1]
        case "Clip": [1, 2]
        case "Pad": [1, 2, 3]
        case "Slice": [1, 2, 3, 4]
        case "Dropout": [1, 2]
        case "ConstantOfShape": [0]
        case "Range": [0, 1, 2]
        default: []
        }
    }

    /// Runs the operator on its inputs (`nil` for omitted optional ones).
    func run(_ inputs: [ONNXValue?], _ execution: inout ONNXExecution) throws -> [ONNXValue] {
        let opset = execution.opset
        switch opType {
        case "Conv": return [.float(try convolution(inputs))]
        case "Gemm": return [.float(try gemm(inputs))]
        case "MatMul": return [.float(try matrixProduct(inputs))]
        case "Add", "Sub", "Mul", "Div": return [try arithmetic(inputs)]
        case "Neg", "Sqrt", "Exp", "Log", "Abs", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish":
            return [.float(try activation(try floatInput(inputs, 0)))]
        case "PRelu": return [.float(try parametricRectifier(inputs))]
        case "Softmax", "LogSoftmax": return [.float(try softmax(try floatInput(inputs, 0), opset: opset))]
        case "Clip": return [.float(try clip(inputs, opset: opset))]
        case "MaxPool", "AveragePool": return [.float(try pooling(try floatInput(inputs, 0)))]
        case "GlobalAveragePool", "GlobalMaxPool": return [.float(try globalPooling(try floatInput(inputs, 0)))]
        case "ReduceMean", "ReduceSum": return [.float(try reduction(inputs, opset: opset))]
        case "BatchNormalization": return [.float(try batchNormalization(inputs, &execution))]
        case "Dropout": return [.float(try dropout(inputs, &execution))]
        case "Flatten": return [try flatten(inputs)]
        case "Reshape": return [try reshape(inputs)]
        case "Transpose": return [try transpose(inputs)]
        case "Squeeze", "Unsqueeze": return [try squeezeOrUnsqueeze(inputs, opset: opset)]
        case "Concat": return [try concat(inputs)]
        case "Pad": return [.float(try pad(inputs, opset: opset))]
        case "Identity": return [try present(inputs, 0)]
        case "Constant": return [try constant()]
        case "Shape": return [try shapeOf(inputs)]
        case "Gather": return [try gather(inputs)]
        case "Slice": return [try slice(inputs)]
        case "Cast": return [try cast(inputs)]
        case "ConstantOfShape": return [try constantOfShape(inputs)]
        case "Range": return [try range(inputs)]
        case "Expand": return [try expand(inputs)]
        default:
            throw ONNXError.unsupportedOperator(node: name, opType: opType, domain: domain, opset: opset)
        }
    }

    // MARK: - Input access

    func present(_ inputs: [ONNXValue?], _ position: Int) throws -> ONNXValue {
        guard position < inputs.count, let value = inputs[position] else { throw unsupported("input \(position) is required") }
        return value
    }

    func floatInput(_ inputs: [ONNXValue?], _ position: Int) throws -> Tensor {
        guard case .float(let tensor) = try present(inputs, position) else {
            throw unsupported("input \(position) must be a float tensor")
        }
        return tensor
    }

    func optionalFloatInput(_ inputs: [ONNXValue?], _ position: Int) throws -> Tensor? {
        guard position < inputs.count, inputs[position] != nil else { return nil }
        return try floatInput(inputs, position)
    }

    /// An input that must be known integers (a shape, axes, indices).
    func integerInput(_ inputs: [ONNXValue?], _ position: Int) throws -> IntegerTensor {
        guard case .integer(let integers) = try present(inputs, position) else {
            throw unsupported("input \(position) must be an integer tensor")
        }
        return integers
    }

    func optionalIntegers(_ inputs: [ONNXValue?], _ position: Int) throws -> [Int]? {
        guard position < inputs.count, inputs[position] != nil else { return nil }
        return try integerInput(inputs, position).values
    }

    /// `axis` in `0..<rank`, negative counting from the end.
    func normalized(axis: Int, rank: Int) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard normalized >= 0 && normalized < Swift.max(rank, 1) else { throw mismatch("axis \(axis) is out of range for rank \(rank)") }
        return normalized
    }
}
