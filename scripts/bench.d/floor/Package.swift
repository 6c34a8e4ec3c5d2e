// swift-tools-version:6.0
// The floor that scripts/bench holds a warm `cpro token` against: a static
// Swift program that prints one environment variable with Foundation.
import PackageDescription

let package = Package(name: "floor", targets: [.executableTarget(name: "floor")])
