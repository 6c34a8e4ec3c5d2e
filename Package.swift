// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cpro",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cpro", targets: ["cpro"]),
        .library(name: "CproVault", targets: ["CproVault"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Floor 1: system libraries.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLibSecret", pkgConfig: "libsecret-1", providers: [.apt(["libsecret-1-dev"])]),
        .systemLibrary(name: "CSystem"),
        // Floor 2: the words of the domain.
        .target(name: "CproCore", dependencies: ["CSodium"]),
        // Floor 3: credential stores.
        .target(name: "CproVault", dependencies: [
            "CproCore", "CSodium",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Floor 6: the command line, as a library so tests and the entry point share it.
        .target(name: "CproCLI", dependencies: [
            "CproCore", "CproVault", "CSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "cpro", dependencies: ["CproCLI"]),

        .testTarget(name: "CproCoreTests", dependencies: ["CproCore"]),
        .testTarget(name: "CproVaultTests", dependencies: ["CproVault", "CproCore"]),
        .testTarget(name: "CLITests", dependencies: ["CproCore", "cpro"]),
    ],
    swiftLanguageModes: [.v6]
)
