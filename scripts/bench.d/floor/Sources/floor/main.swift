import Foundation

print(ProcessInfo.processInfo.environment["HOME"] ?? "")
