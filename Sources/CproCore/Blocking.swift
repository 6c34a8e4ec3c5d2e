import Foundation

/// Work that blocks a thread (waiting for a file lock another process holds,
/// a D-Bus call that may wait on an unlock prompt, Argon2id) runs here, on a
/// thread of its own, and the calling task is resumed when it is done. On the
/// cooperative pool (as many threads as cores: two on the development
/// machines) a few such waits would otherwise stall every task of a server.
package enum Blocking {
    package static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.start()
        }
    }
}
