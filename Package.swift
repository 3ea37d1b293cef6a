// swift-tools-version: 6.0
import PackageDescription

#if os(Linux)
// OpenBLAS for GEMMs; oneDNN (Debian's libdnnl-dev) for convolutions.
let blasDependencies: [Target.Dependency] = ["CBLAS", "COneDNN"]
#else
let blasDependencies: [Target.Dependency] = []
#endif
// Open MPI for runs over several processes (see Sources/BulwarkMPI).
let mpiDependencies: [Target.Dependency] = [.target(name: "CMPI", condition: .when(platforms: [.linux]))]

let package = Package(
    name: "Bulwark",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Bulwark", targets: ["Bulwark"]),
        .executable(name: "bulwark", targets: ["BulwarkCommand"]),
        .executable(name: "bulwark-bench", targets: ["BulwarkBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]),
        // A C++ shim over oneDNN's C++ API, exporting three C functions (see its header).
        .target(
            name: "COneDNN", path: "Sources/COneDNN",
            linkerSettings: [.linkedLibrary("dnnl", .when(platforms: [.linux])), .linkedLibrary("gomp", .when(platforms: [.linux]))]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // libpng's simplified API decodes the PNG images of image-folder datasets.
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        // Open MPI's C API (Debian's libopenmpi-dev), linked: see BulwarkMPI's MPICommunicator.
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        .target(
            name: "BulwarkCore",
            dependencies: blasDependencies),
        .target(name: "BulwarkNN", dependencies: ["BulwarkCore"]),
        .target(name: "BulwarkMPI", dependencies: ["BulwarkCore"] + mpiDependencies),
        .target(name: "BulwarkData", dependencies: ["BulwarkCore", "CZlib", "CPNG"]),
        .target(name: "BulwarkAttacks", dependencies: ["BulwarkNN"]),
        .target(name: "BulwarkTraining", dependencies: ["BulwarkAttacks", "BulwarkData"]),
        .target(name: "BulwarkReport", dependencies: ["BulwarkTraining", "BulwarkONNX", "CZlib"]),
        // A run as a value: its configuration, what it records and the driver that carries it out.
        .target(name: "BulwarkRun", dependencies: ["BulwarkTraining", "BulwarkReport", "BulwarkONNX"]),
        // ONNX models as layers; Generated/ holds the committed protobuf code (see its README).
        .target(
            name: "BulwarkONNX",
            dependencies: ["BulwarkNN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Generated/README.md"]),
        .target(
            name: "Bulwark",
            dependencies: ["BulwarkCore", "BulwarkNN", "BulwarkData", "BulwarkAttacks", "BulwarkTraining", "BulwarkReport", "BulwarkRun", "BulwarkONNX", "BulwarkMPI"]),
        .executableTarget(
            name: "BulwarkCommand",
            dependencies: ["Bulwark", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "BulwarkBench",
            dependencies: ["Bulwark", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "_TestSupport", dependencies: ["Bulwark"]),
        .testTarget(name: "BulwarkCoreTests", dependencies: ["BulwarkCore", "_TestSupport"]),
        .testTarget(name: "BulwarkNNTests", dependencies: ["BulwarkNN", "_TestSupport"], resources: [.copy("FuzzCorpus")]),
        .testTarget(name: "BulwarkDataTests", dependencies: ["BulwarkData", "_TestSupport"], resources: [.copy("FuzzCorpus")]),
        .testTarget(name: "BulwarkAttacksTests", dependencies: ["BulwarkAttacks", "_TestSupport"]),
        .testTarget(name: "BulwarkTrainingTests", dependencies: ["BulwarkTraining", "_TestSupport"]),
        .testTarget(name: "BulwarkReportTests", dependencies: ["BulwarkReport", "_TestSupport"]),
        .testTarget(name: "BulwarkRunTests", dependencies: ["BulwarkRun", "_TestSupport"]),
        .testTarget(name: "BulwarkONNXTests", dependencies: ["BulwarkONNX", "_TestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")], resources: [.copy("Fixtures")]),
        .testTarget(name: "BulwarkMPITests", dependencies: ["BulwarkMPI", "_TestSupport"]),
        .testTarget(name: "BulwarkCommandTests", dependencies: ["BulwarkCommand", "_TestSupport"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
