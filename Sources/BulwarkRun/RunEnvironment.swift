import BulwarkCore
import Foundation

/// The version of Bulwark recorded in checkpoints, run manifests and reports.
public let bulwarkVersion = "0.1.0"

/// What built and runs this Bulwark, recorded in run manifests: the Swift compiler, the OS,
/// the linked BLAS and oneDNN, and the worker threads (a run is bit-for-bit reproducible on
/// the same build and thread count).
public func runEnvironment() -> [String: String] {
    #if compiler(>=6.5)
    let swift = "6.5 or later"
    #elseif compiler(>=6.4)
    let swift = "6.4"
    #elseif compiler(>=6.3)
    let swift = "6.3"
    #elseif compiler(>=6.2)
    let swift = "6.2"
    #elseif compiler(>=6.1)
    let swift = "6.1"
    #else
    let swift = "6.0"
    #endif
    var result = [
        "bulwark_version": bulwarkVersion, "swift_version": swift,
        "os": ProcessInfo.processInfo.operatingSystemVersionString, "threads": String(workerCount), "blas": blasDescription,
    ]
    if let oneDNNVersion { result["onednn_version"] = oneDNNVersion }
    #if arch(x86_64)
    result["cpu_architecture"] = "x86_64"
    #elseif arch(arm64)
    result["cpu_architecture"] = "arm64"
    #endif
    return result
}
