// The one file that knows which BLAS is linked.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Makes the BLAS run each call on the calling thread.
///
/// The engine parallelizes GEMMs itself (``parallelSgemm``, convolution over images), so one
/// scheduler owns both cores. Left to its own threads, OpenBLAS spins its idle workers after
/// each call (`sched_yield` was a fifth of a training profile) while the engine's workers
/// wait for the same cores.
private let singleThreadedBLAS: Void = {
    #if !canImport(Accelerate)
    openblas_set_num_threads(1)
    #endif
}()

/// The linked BLAS and its build configuration, for run manifests: OpenBLAS's
/// `openblas_get_config()` (version, architecture, thread limit) on Linux, "Accelerate" on Apple.
package var blasDescription: String {
    #if canImport(Accelerate)
    return "Accelerate"
    #else
    guard let configuration = openblas_get_config() else { return "OpenBLAS" }
    let text = String(cString: configuration)
    return String(text.reversed().drop(while: { $0 == " " }).reversed())
    #endif
}

/// Single-precision GEMM on row-major matrices, on the calling thread:
/// `c = alpha · op(a) · op(b) + beta · c`.
///
/// `op(a)` is `m × k`, `op(b)` is `k × n`, `c` is `m × n`. Leading dimensions are those of the
/// stored (untransposed) matrices.
///
/// - Complexity: 2·m·n·k floating-point operations.
package func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    _ = singleThreadedBLAS
    cblas_sgemm(
        CblasRowMajor,
        transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// ``sgemm`` split over the engine's workers by blocks of rows of `c`, or of columns when `c`
/// is wider than tall, each block one single-threaded BLAS call.
///
/// Each worker packs the whole of the operand it does not split, so the split follows the
/// larger one: a fully connected layer's batch-by-3,136 product against its 1,024 × 3,136
/// weights, split by rows, had both workers pack all 12.8 MB of weights.
package func parallelSgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    // Below ~4 MFLOP per worker the split costs more than it saves.
    let minimumWork = 1 << 22
    let pointers = UncheckedSendable((a, b, c))
    if m >= n || n < 2 * 16 {
        parallelChunks(m, grain: Swift.max(16, minimumWork / Swift.max(1, 2 * n * k))) { rows in
            let (a, b, c) = pointers.value
            let rowStart = rows.lowerBound
            sgemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                  a: transposeA ? a + rowStart : a + rowStart * lda, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c + rowStart * ldc, ldc: ldc)
        }
    } else {
        parallelChunks(n, grain: Swift.max(16, minimumWork / Swift.max(1, 2 * m * k))) { columns in
            let (a, b, c) = pointers.value
            let columnStart = columns.lowerBound
            sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k, alpha: alpha,
                  a: a, lda: lda, b: transposeB ? b + columnStart * ldb : b + columnStart, ldb: ldb,
                  beta: beta, c: c + columnStart, ldc: ldc)
        }
    }
}
