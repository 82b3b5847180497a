// swift-tools-version:6.1
// A comparison peer for `make bench`, not part of snapshotd: Hummingbird 2 answering
// POST /v1/events with 204 after collecting the body. Built only by Benchmarks/run.sh,
// into its own .build directory.
import PackageDescription

let package = Package(
    name: "HummingbirdPeer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdPeer",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
