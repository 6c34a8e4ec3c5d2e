// A CproKit scenario in a process of its own, for LibraryTests: the
// cooperative thread pool measured here is this process's alone, not shared
// with the tests running beside it.
//
//   cprokit-probe lock-wait N   N clients ask for a token (the test holds the
//                               token lock from another process) while a
//                               heartbeat of 20 x 50 ms runs on the same pool;
//                               prints {"heartbeat_s": ..., "tokens": ..., "failed": ...}
import CproKit
import Foundation

let args = CommandLine.arguments
guard args.count == 3, args[1] == "lock-wait", let n = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: cprokit-probe lock-wait N\n".utf8))
    exit(64)
}
let clients = try (0..<n).map { _ in try CproClient() }
let calls = Task {
    await withTaskGroup(of: Bool.self) { group in
        for c in clients { group.addTask { (try? await c.token()) != nil } }
        var all: [Bool] = []
        for await ok in group { all.append(ok) }
        return all
    }
}
let start = Date()
for _ in 0..<20 { try await Task.sleep(nanoseconds: 50_000_000) }
let heartbeat = Date().timeIntervalSince(start)
let results = await calls.value
let out: [String: Any] = ["heartbeat_s": heartbeat, "tokens": results.filter { $0 }.count, "failed": results.filter { !$0 }.count]
print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
