// swift-tools-version:6.0
// An example of CproKit in a Swift server (docs/library.md): a Hummingbird
// app whose GET /structures answers the technical account's linked
// structures, with the credentials and token cache of the `cpro` command.
import PackageDescription

let package = Package(
    name: "cpro-example-server",
    platforms: [.macOS(.v15)],
    dependencies: [
        // This repository; named, so the clone's folder name does not matter.
        .package(name: "cpro", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(name: "structures-server", dependencies: [
            .product(name: "CproKit", package: "cpro"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
