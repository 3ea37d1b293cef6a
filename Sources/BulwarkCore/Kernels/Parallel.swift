import Dispatch

/// The number of workers kernels split large work into: the machine's active cores.
package let workerCount: Int = max(1, min(ProcessInfoCores.active, 16))

enum ProcessInfoCores {
    static var active: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return Int(sysconf(_SC_NPROCESSORS_ONLN))
        #endif
    }
}

/// Calls `body` on disjoint subranges covering `0..<count`, on several threads when every
/// worker gets at least `grain` items, otherwise once on the calling thread.
///
/// `body` must only write to locations determined by its range.
@inline(__always)
package func parallelChunks(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    parallelPartitions(count, grain: grain) { _, range in body(range) }
}

/// Like ``parallelChunks(_:grain:_:)``, also passing each partition's index in
/// `0..<partitions`; returns the number of partitions, so callers can keep per-worker
/// partial results (`0` when `count` is 0).
@discardableResult
package func parallelPartitions(_ count: Int, grain: Int, _ body: (_ partition: Int, _ range: Range<Int>) -> Void) -> Int {
    let workers = min(workerCount, count / max(grain, 1))
    if workers <= 1 {
        if count > 0 { body(0, 0..<count) }
        return count > 0 ? 1 : 0
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = count * worker / workers
            let end = count * (worker + 1) / workers
            box.value(worker, start..<end)
        }
    }
    return workers
}

/// Carries a value across the `concurrentPerform` boundary. The kernels that use it hand each
/// worker a disjoint output range, which is the invariant the compiler cannot see.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
#if canImport(CBLAS)
import CBLAS
#endif

extension UnsafeBufferPointer {
    /// The first element's address. Kernels ask for it only for non-empty buffers.
    @inline(__always)
    package var address: UnsafePointer<Element> {
        guard let base = baseAddress else { preconditionFailure("kernel asked for the address of an empty buffer") }
        return base
    }
}

extension UnsafeMutableBufferPointer {
    /// The first element's address. Kernels ask for it only for non-empty buffers.
    @inline(__always)
    package var address: UnsafeMutablePointer<Element> {
        guard let base = baseAddress else { preconditionFailure("kernel asked for the address of an empty buffer") }
        return base
    }
}

/// Asks glibc's allocator to keep freed tensor buffers instead of returning them to the
/// kernel, for executables to call once at start-up.
///
/// Training allocates and frees buffers of tens of megabytes every step; by default glibc
/// maps each with `mmap` and unmaps it on free, so every step pays for fresh zeroed pages
/// (page faults were a quarter of the profile of an attack loop). Process-wide, so the
/// library never calls it by itself.
package func retainLargeAllocations() {
    #if canImport(CBLAS)
    // No mmap at all: glibc refuses thresholds above 32 MiB (mallopt returns 0 and keeps its
    // dynamic threshold), so a larger buffer, such as a ResNet activation of a batch of 128,
    // would still be mapped and unmapped every step.
    _ = mallopt(M_MMAP_MAX, 0)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    _ = mallopt(M_TOP_PAD, 64 << 20)
    #endif
}
