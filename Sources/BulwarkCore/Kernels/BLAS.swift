// The one file that knows which BLAS is linked.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Single-precision GEMM on row-major matrices: `c = alpha * op(a) * op(b) + beta * c`.
///
/// `op(a)` is `m × k`, `op(b)` is `k × n`, `c` is `m × n`. Leading dimensions are those of the
/// stored (untransposed) matrices.
///
/// - Complexity: 2·m·n·k floating-point operations, threaded by the BLAS library.
package func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor,
        transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
