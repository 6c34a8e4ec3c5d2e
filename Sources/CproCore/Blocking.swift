#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Work that blocks a thread (waiting for a file lock another process holds,
/// a D-Bus call that may wait on an unlock prompt, Argon2id) runs here, on a
/// thread of its own, and the calling task is resumed when it is done. On the
/// cooperative pool (as many threads as cores: two on the development
/// machines) a few such waits would otherwise stall every task of a server.
package enum Blocking {
    package static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            if let error = detach({ continuation.resume(with: Result { try work() }) }) {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Runs `body` on a new detached thread; the error when none could be
    /// started. POSIX threads rather than Foundation's Thread on Linux, so
    /// that the CLI needs FoundationEssentials only (Foundation's full module
    /// brings ICU's 34 MB of data into a static binary).
    package static func detach(_ body: @escaping @Sendable () -> Void) -> Failure? {
        #if canImport(Glibc)
        let retained = Unmanaged.passRetained(Job(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let started = pthread_create(&thread, &attributes, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().work()
            return nil
        }, retained)
        pthread_attr_destroy(&attributes)
        guard started == 0 else {
            Unmanaged<Job>.fromOpaque(retained).release()
            return Failure(
                "cannot start a thread (error \(started)): the system is out of threads or memory",
                fr: "impossible de démarrer un fil d'exécution (erreur \(started)) : le système manque de fils ou de mémoire")
        }
        return nil
        #else
        Thread { body() }.start()
        return nil
        #endif
    }

    private final class Job: Sendable {
        let work: @Sendable () -> Void
        init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    }
}

#if canImport(Glibc)
/// A lock its holder may take again (one operation calling another on the
/// same store), as NSRecursiveLock, without Foundation's full module.
package final class RecursiveLock: @unchecked Sendable {
    // Allocated once and never moved: a pthread mutex must keep its address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init() {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }
}
#else
package typealias RecursiveLock = NSRecursiveLock
#endif
