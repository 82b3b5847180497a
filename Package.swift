// swift-tools-version:6.1
import PackageDescription

// Layers (nothing imports upward, and the two foundations never import each other):
//   snapshotd (CLI, wiring, signals)
//   SnapshotService (routes, JSON, metrics)
//   SnapshotCore (engine, formats; no networking)   HTTPServer (HTTP/1.1 on sockets; no snapshots)
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "snapshotd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "snapshotd", targets: ["snapshotd"]),
        .library(name: "SnapshotCore", targets: ["SnapshotCore"]),
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
    ],
    targets: [
        // CRC-32C with the CPU's CRC32 instruction, for the v2 format's checksums.
        .target(name: "CCRC32C"),
        .target(
            name: "SnapshotCore",
            dependencies: [
                "CCRC32C",
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Linux's epoll, which the Glibc module does not export: HTTPServer's connection pools.
        .systemLibrary(name: "CEpoll"),
        .target(name: "HTTPServer", dependencies: ["CEpoll"], swiftSettings: strict),
        .target(
            name: "SnapshotService",
            dependencies: [
                "SnapshotCore",
                "HTTPServer",
                "CEventJSON",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "snapshotd",
            dependencies: [
                "SnapshotCore",
                "HTTPServer",
                "SnapshotService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // simdjson (Debian libsimdjson-dev) behind a small C interface: the event ingest path.
        .target(
            name: "CEventJSON",
            linkerSettings: [.linkedLibrary("simdjson")]
        ),
        // Benchmarks, out of the product: `make bench`.
        .executableTarget(
            name: "snapshot-bench",
            dependencies: ["SnapshotCore"],
            path: "Benchmarks/EngineBench",
            swiftSettings: strict
        ),
        // libcurl (Debian libcurl4-openssl-dev): the integration tests' HTTP client.
        .systemLibrary(name: "CCurl", path: "Tests/CCurl"),
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "SnapshotCoreTests", dependencies: ["SnapshotCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"], swiftSettings: strict),
        .testTarget(name: "SnapshotServiceTests", dependencies: ["SnapshotService", "CEventJSON", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["CCurl", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
