// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cpro",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cpro", targets: ["cpro"]),
        .executable(name: "piste-sim", targets: ["piste-sim"]),
        // For Swift servers: docs/library.md.
        .library(name: "CproKit", targets: ["CproKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // Floor 1: system libraries.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // libsecret through dlopen, on first use only (Sources/CLibSecret/include).
        .target(name: "CLibSecret", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CCproSys"),
        // The version, and the commit that scripts/package writes into a built binary.
        .target(name: "CCproBuild"),
        // Floor 2: the words of the domain.
        .target(name: "CproCore", dependencies: ["CSodium", "CCproBuild"]),
        // Floor 2: HTTP for the wire and for the OpenBao backend alike.
        .target(name: "CproHTTP", dependencies: [
            "CproCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // Floor 3: credential stores.
        .target(name: "CproVault", dependencies: [
            "CproCore", "CproHTTP", "CSodium", "CCproSys",
            // The Secret Service backend exists where libsecret does.
            .target(name: "CLibSecret", condition: .when(platforms: [.linux])),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Floor 4: the wire: HTTP transport, OAuth token client and cache, the API pipeline.
        .target(name: "CproPiste", dependencies: [
            "CproCore", "CproHTTP", "CproVault", "CSodium",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Floor 5: the library that Swift servers embed (docs/library.md).
        .target(name: "CproKit", dependencies: [
            "CproCore", "CproHTTP", "CproVault", "CproPiste",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Floor 5: the setup steps, the checker behind onboarding and health.
        .target(name: "CproOnboarding", dependencies: [
            "CproCore", "CproHTTP", "CproVault", "CproPiste",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The stand-in for PISTE: shares nothing with the client's wire code, so a
        // mistake in cpro's encoding cannot be mirrored by the same mistake here.
        .target(name: "PisteSim", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "piste-sim", dependencies: [
            "PisteSim", "CCproBuild",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Floor 6: the command line, as a library so tests and the entry point share it.
        .target(name: "CproCLI", dependencies: [
            "CproCore", "CproHTTP", "CproVault", "CproPiste", "CproOnboarding", "CCproSys",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "cpro", dependencies: ["CproCLI"]),
        // Fuzz targets for the parsers (scripts/prove): a corpus replayer in
        // normal builds, libFuzzer's entry point when built with -DCPRO_LIBFUZZER.
        .executableTarget(name: "cpro-fuzz", dependencies: [
            "CproCore", "CproHTTP", "CproVault", "CproPiste", "CproOnboarding", "CSodium",
        ]),

        // A CproKit scenario in a process of its own, for LibraryTests.
        .executableTarget(name: "cprokit-probe", dependencies: ["CproKit"]),

        // Child processes for the tests, without Foundation's Process (see Child.swift).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CproCoreTests", dependencies: ["CproCore", "TestSupport"]),
        .testTarget(name: "CproVaultTests", dependencies: ["CproVault", "CproCore"]),
        .testTarget(name: "CproPisteTests", dependencies: ["CproPiste", "CproHTTP", "CproCore", "PisteSim"]),
        // The pty driver is run from its source folder (#filePath), not bundled.
        .testTarget(name: "CLITests", dependencies: ["CproCore", "CproVault", "CproKit", "TestSupport", "cpro", "piste-sim", "cprokit-probe"], exclude: ["pty-driver.py", "nagios-perfdata.pl"]),
    ],
    swiftLanguageModes: [.v6]
)
