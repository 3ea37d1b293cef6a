// Matrix multiplication through BLAS.

/// The matrix product `op(lhs) · op(rhs)` of rank-2 tensors, where `op` transposes when asked.
///
/// Transposition is folded into the BLAS call, so `matmul(x, weight, transposeRHS: true)`
/// computes `x · weightᵀ` (a `Linear` layer with PyTorch's `[out, in]` weight) without a copy.
///
/// - Complexity: 2·m·n·k flops forward; the pullback does the same for each input that needs
///   a gradient.
public func matmul(_ lhs: Tensor, _ rhs: Tensor, transposeLHS: Bool = false, transposeRHS: Bool = false) -> Tensor {
    precondition(lhs.rank == 2 && rhs.rank == 2, "matmul needs matrices, got \(lhs.shape) and \(rhs.shape)")
    let (m, k) = transposeLHS ? (lhs.shape[1], lhs.shape[0]) : (lhs.shape[0], lhs.shape[1])
    let (k2, n) = transposeRHS ? (rhs.shape[1], rhs.shape[0]) : (rhs.shape[0], rhs.shape[1])
    precondition(k == k2, "matmul inner dimensions differ: \(lhs.shape)\(transposeLHS ? "ᵀ" : "") · \(rhs.shape)\(transposeRHS ? "ᵀ" : "")")
    let output = matmulKernel(lhs, rhs, transposeLHS: transposeLHS, transposeRHS: transposeRHS, m: m, n: n, k: k)
    return recordProduct(output, lhs, rhs, transposeLHS: transposeLHS, transposeRHS: transposeRHS, product: matmul)
}

/// Records `output` = `op(lhs) · op(rhs)` on the tape, with the pullback of the product
/// computed by `product` (``matmul(_:_:transposeLHS:transposeRHS:)`` or its batched form,
/// which apply the same rules per matrix); `operation` names the caller on the tape.
private func recordProduct(
    _ output: Tensor, _ lhs: Tensor, _ rhs: Tensor, transposeLHS: Bool, transposeRHS: Bool,
    operation: StaticString = #function, product: @escaping (Tensor, Tensor, Bool, Bool) -> Tensor
) -> Tensor {
    let (a, b) = (lhs.detached, rhs.detached)
    return Tensor.record(output, inputs: [lhs, rhs], operation: operation, differentiablePullback: {
        { upstream, needed, traced in
            let (a, b) = (traced.input(0, a), traced.input(1, b))
            return [
                // d op(A) = dC · op(B)ᵀ; stored A is op(A) or its transpose.
                needed[0] ? (transposeLHS
                    ? product(b, upstream, transposeRHS, true)
                    : product(upstream, b, false, !transposeRHS)) : nil,
                // d op(B) = op(A)ᵀ · dC.
                needed[1] ? (transposeRHS
                    ? product(upstream, a, true, transposeLHS)
                    : product(a, upstream, !transposeLHS, false)) : nil,
            ]
        }
    })
}

/// Untraced `op(lhs) · op(rhs)` into a new `m × n` tensor.
package func matmulKernel(
    _ lhs: Tensor, _ rhs: Tensor, transposeLHS: Bool, transposeRHS: Bool, m: Int, n: Int, k: Int
) -> Tensor {
    guard m > 0, n > 0, k > 0 else { return Tensor(zeros: [m, n]) }
    return Tensor.overwriting(shape: [m, n], { out in
        lhs.scalars.withUnsafeBufferPointer { a in
            rhs.scalars.withUnsafeBufferPointer { b in
                parallelSgemm(
                    transposeA: transposeLHS, transposeB: transposeRHS, m: m, n: n, k: k,
                    a: a.address, lda: lhs.shape[1], b: b.address, ldb: rhs.shape[1],
                    c: out.address, ldc: n)
            }
        }
    })
}

/// `input · weightᵀ + bias`, PyTorch's `torch.nn.functional.linear`: `input` `[N, in]`, `weight`
/// `[out, in]`, `bias` `[out]`.
///
/// One primitive rather than a product and a broadcast sum: the bias is written into the
/// output before the GEMM accumulates onto it, so no extra pass over the output is made.
///
/// - Complexity: 2·N·in·out flops forward; the pullback runs one GEMM per matrix that needs a
///   gradient and one column sum for the bias.
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(input.rank == 2 && weight.rank == 2 && input.shape[1] == weight.shape[1],
                 "linear needs input [N, in] and weight [out, in], got \(input.shape) and \(weight.shape)")
    let (m, n, k) = (input.shape[0], weight.shape[0], input.shape[1])
    if let bias { precondition(bias.shape == [n], "linear bias must have shape [\(n)], got \(bias.shape)") }
    guard let bias, m > 0, n > 0, k > 0 else {
        let product = matmul(input, weight, transposeRHS: true)
        guard let bias else { return product }
        return product + bias
    }
    let output = Tensor.overwriting(shape: [m, n], { out in
        input.scalars.withUnsafeBufferPointer { a in
            weight.scalars.withUnsafeBufferPointer { b in
                bias.scalars.withUnsafeBufferPointer { shift in
                    for row in 0..<m { (out.address + row * n).update(from: shift.address, count: n) }
                }
                parallelSgemm(
                    transposeA: false, transposeB: true, m: m, n: n, k: k,
                    a: a.address, lda: k, b: b.address, ldb: k, beta: 1, c: out.address, ldc: n)
            }
        }
    })
    let (x, w) = (input.detached, weight.detached)
    return Tensor.record(output, inputs: [input, weight, bias], differentiablePullback: {
        { upstream, needed, traced in
            [
                needed[0] ? matmul(upstream, traced.input(1, w)) : nil,
                needed[1] ? matmul(upstream, traced.input(0, x), transposeLHS: true) : nil,
                needed[2] ? upstream.sum(alongAxes: [0]) : nil,
            ]
        }
    })
}

/// The batched matrix product `op(lhs[b]) · op(rhs[b])` of rank-3 tensors `[batch, ·, ·]`,
/// PyTorch's `torch.bmm` with optional transposes (attention's `Q·Kᵀ` and `weights·V`).
///
/// - Complexity: `batch` GEMMs of 2·m·n·k flops forward; the pullback runs the same for each
///   input that needs a gradient.
public func batchedMatmul(_ lhs: Tensor, _ rhs: Tensor, transposeLHS: Bool = false, transposeRHS: Bool = false) -> Tensor {
    precondition(lhs.rank == 3 && rhs.rank == 3 && lhs.shape[0] == rhs.shape[0],
                 "batchedMatmul needs [batch, ·, ·] tensors with one batch size, got \(lhs.shape) and \(rhs.shape)")
    let k = transposeLHS ? lhs.shape[1] : lhs.shape[2]
    let k2 = transposeRHS ? rhs.shape[2] : rhs.shape[1]
    precondition(k == k2, "batchedMatmul inner dimensions differ: \(lhs.shape) · \(rhs.shape)")
    let output = batchedMatmulKernel(lhs, rhs, transposeLHS: transposeLHS, transposeRHS: transposeRHS)
    // The rank-2 rules of `matmul`, applied per batch entry.
    return recordProduct(output, lhs, rhs, transposeLHS: transposeLHS, transposeRHS: transposeRHS, product: batchedMatmul)
}

/// Untraced batched `op(lhs[b]) · op(rhs[b])`.
package func batchedMatmulKernel(_ lhs: Tensor, _ rhs: Tensor, transposeLHS: Bool, transposeRHS: Bool) -> Tensor {
    let batch = lhs.shape[0]
    let (m, k) = transposeLHS ? (lhs.shape[2], lhs.shape[1]) : (lhs.shape[1], lhs.shape[2])
    let n = transposeRHS ? rhs.shape[1] : rhs.shape[2]
    let (lhsSize, rhsSize) = (lhs.shape[1] * lhs.shape[2], rhs.shape[1] * rhs.shape[2])
    var scalars = [Float]()
    scalars.reserveCapacity(batch * m * n)
    for entry in 0..<batch {
        let a = Tensor(shape: [lhs.shape[1], lhs.shape[2]], scalars: Array(lhs.scalars[(entry * lhsSize)..<((entry + 1) * lhsSize)]))
        let b = Tensor(shape: [rhs.shape[1], rhs.shape[2]], scalars: Array(rhs.scalars[(entry * rhsSize)..<((entry + 1) * rhsSize)]))
        scalars.append(contentsOf: matmulKernel(a, b, transposeLHS: transposeLHS, transposeRHS: transposeRHS, m: m, n: n, k: k).scalars)
    }
    return Tensor(shape: [batch, m, n], scalars: scalars)
}
