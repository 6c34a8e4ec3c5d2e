import CSodium
import CproCore
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One valid token per profile and environment, shared by every process of
/// the user (see docs/token-cache.md).
///
/// - Entries are sealed with XChaCha20-Poly1305 under a random per-user cache
///   key kept apart from them (in $XDG_RUNTIME_DIR when there is one).
/// - An entry remembers a keyed fingerprint of the client ID, the client secret
///   and the OAuth URL it was obtained with, and the backend's change stamp:
///   while the stamp is unchanged the warm path trusts the entry without
///   opening the store; when it changed, the cold path re-reads the
///   credentials and reuses the token only if the fingerprint still matches.
/// - Refreshes are single-flight across processes: an exclusive lock around
///   "read, refresh if stale, write", so N processes starting together on an
///   empty cache make one token request.
/// - Within a process it is an actor: one fetch in flight at a time (every
///   caller waits for that one, without holding a thread), and the valid token
///   kept in memory while the store's change stamp says the credentials are
///   the same, so a server's hundred concurrent calls read no file.
package actor TokenProvider {
    let store: CredentialStore
    let profile: ProfileName
    let environment: PisteEnvironment
    let endpoints: Endpoints
    let directory: String
    let keyDirectory: String
    let margin: Int64
    let client: TokenClient
    let logger: Logger
    let clock: @Sendable () -> Int64
    let lockTimeout: Double
    /// Up to where the cache's folders must be the user's.
    let trustRoots: [String]
    /// Read the credentials before taking the token lock: when reading them
    /// may wait on a person (a passphrase prompt), other processes must not
    /// wait on that person too. Off otherwise, so that N processes starting
    /// together open the store once, not N times.
    let readsBeforeLock: Bool
    /// Tasks of this process take turns before the file lock: waiting on the
    /// lock blocks a thread, and with the cooperative pool's few threads the
    /// task holding it could then never be resumed.
    let gate = AsyncGate()

    package static let defaultMargin: Int64 = 300

    package init(
        store: CredentialStore, profile: ProfileName, environment: PisteEnvironment, endpoints: Endpoints,
        directory: String, keyDirectory: String, trustRoots: [String] = [], readsBeforeLock: Bool = false,
        margin: Int64 = TokenProvider.defaultMargin, client: TokenClient,
        logger: Logger = Logger(label: "cpro.token"), lockTimeout: Double = 150,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.profile = profile
        self.environment = environment
        self.endpoints = endpoints
        self.directory = directory
        self.keyDirectory = keyDirectory
        self.margin = margin
        self.client = client
        self.logger = logger
        self.clock = clock
        self.lockTimeout = lockTimeout
        self.trustRoots = trustRoots
        self.readsBeforeLock = readsBeforeLock
    }

    nonisolated var entryPath: String { "\(directory)/\(profile.value).\(environment.rawValue).token" }
    nonisolated var lockPath: String { "\(directory)/\(profile.value).\(environment.rawValue).lock" }
    nonisolated var keyPath: String { "\(keyDirectory)/token-cache.key" }

    // MARK: public

    /// A token valid for at least the margin: from the cache when it can, else
    /// fetched (once for all processes asking at the same time).
    /// `client`: the request's own (a library call's time budget); else the provider's.
    package func token(refresh: Bool = false, using client: TokenClient? = nil) async throws -> AccessToken {
        if !refresh, let t = remembered() { return t }
        if let running = inFlight { return try await running.task.value }
        let client = client ?? self.client
        let task = Task { () async throws -> AccessToken in
            if !refresh, let t = await self.warm() { return t }
            return try await self.gate.serialized { try await self.lockedToken(refresh: refresh, client: client) }
        }
        flights &+= 1
        let id = flights
        inFlight = (id, task)
        defer { if inFlight?.id == id { inFlight = nil } }
        let token = try await task.value
        memory = (token, store.changeStamp(), clock())
        return token
    }

    /// The token of the last fetch or read, while it is fresh and the store's
    /// stamp is unchanged; a store without a stamp (OpenBao) is asked again
    /// every `memoryCheck` seconds.
    private var memory: (token: AccessToken, stamp: [UInt8]?, at: Int64)?
    private var inFlight: (id: UInt64, task: Task<AccessToken, Error>)?
    private var flights: UInt64 = 0
    static let memoryCheck: Int64 = 30

    private func remembered() -> AccessToken? {
        guard let m = memory, isFresh(m.token) else { return nil }
        if let stamp = m.stamp {
            guard store.changeStamp() == stamp else { return nil }
        } else if clock() - m.at >= Self.memoryCheck {
            return nil
        }
        return m.token
    }

    nonisolated func lockedToken(refresh: Bool, client: TokenClient) async throws -> AccessToken {
        try SecureFiles.ensurePrivateDirectory(directory)
        var early: (stamp: [UInt8]?, creds: Credentials)?
        if readsBeforeLock {
            let stamp = store.changeStamp()
            early = (stamp, try await store.read(profile, environment))
        }
        let lock = try await SecureFiles.Lock.acquire(path: lockPath, timeout: lockTimeout)
        defer { lock.release() }
        // Left by writers killed before their rename: under this lock, every
        // temporary entry is stale; the key's only when its creator is gone.
        SecureFiles.removeStaleTemporaries(of: entryPath)
        SecureFiles.removeStaleTemporaries(of: keyPath, marker: ".new-", onlyDeadOwners: true)
        // Another process may have refreshed while we waited for the lock.
        if !refresh, let t = await warm() {
            logger.debug("token: refreshed by another process meanwhile")
            return t
        }
        let key = try cacheKey(create: true)
        let stamp = early.map(\.stamp) ?? store.changeStamp()
        let creds: Credentials
        if let early { creds = early.creds } else { creds = try await store.read(profile, environment) }
        guard let id = creds[.clientID], let secret = creds[.clientSecret] else {
            let missing = [StoredField.clientID, .clientSecret].filter { creds[$0] == nil }.map(\.rawValue).joined(separator: ", ")
            throw Failure(
                .credentialsMissing,
                "\(missing) not set for \(profile) / \(environment.rawValue): run `cpro creds set \(Selection(profile, environment).options)` (or `cpro onboard \(Selection(profile, environment).options)`)",
                fr: "\(missing) non enregistré(s) pour \(profile) / \(environment.rawValue) : lancez `cpro creds set \(Selection(profile, environment).options)` (ou `cpro onboard \(Selection(profile, environment).options)`)")
        }
        let fingerprint = Self.fingerprint(key: key, id: id, secret: secret, oauthURL: endpoints.oauthURL)
        let stampHash = stamp.map { Self.hash(key: key, [$0, Array(endpoints.oauthURL.utf8)]) }

        if !refresh, let entry = read(key: key), entry.fingerprint == fingerprint, isFresh(entry.token) {
            // The store changed, not these credentials: keep the token, note the stamp.
            logger.debug("token: the store changed but not these credentials; reusing the cached token")
            try write(Entry(fingerprint: fingerprint, stamp: stampHash ?? [UInt8](repeating: 0, count: 32), token: entry.token), key: key)
            return entry.token
        }
        let fresh = try await client.fetch(clientID: id, clientSecret: secret, endpoints: endpoints)
        try write(Entry(fingerprint: fingerprint, stamp: stampHash ?? [UInt8](repeating: 0, count: 32), token: fresh), key: key)
        logger.debug("token: fetched a new token valid \(fresh.lifetime) s")
        return fresh
    }

    /// The cached token if it is valid and still belongs to the stored
    /// credentials, without opening the store when the backend has a stamp.
    package nonisolated func warm() async -> AccessToken? {
        if store.changeStamp() != nil { return warmByStamp() }
        guard let key = try? cacheKey(create: false), let entry = read(key: key), isFresh(entry.token) else { return nil }
        guard let creds = try? await store.read(profile, environment),
              let id = creds[.clientID], let secret = creds[.clientSecret],
              Self.fingerprint(key: key, id: id, secret: secret, oauthURL: endpoints.oauthURL) == entry.fingerprint
        else { return nil }
        return entry.token
    }

    /// The warm read of a store with a change stamp, which never suspends: the
    /// CLI's fast path runs it before any task hops to another thread.
    package nonisolated func warmByStamp() -> AccessToken? {
        guard let stamp = store.changeStamp(), let key = try? cacheKey(create: false), let entry = read(key: key),
              isFresh(entry.token) else { return nil }
        return Self.hash(key: key, [stamp, Array(endpoints.oauthURL.utf8)]) == entry.stamp ? entry.token : nil
    }

    /// Drops this token if the cache still holds it (the API refused it), so
    /// the next call fetches a new one; a newer token another process cached
    /// meanwhile is left alone.
    package func invalidate(_ token: AccessToken) async throws {
        guard SecureFiles.exists(directory) else { return }
        try await gate.serialized {
            let lock = try await SecureFiles.Lock.acquire(path: self.lockPath, timeout: self.lockTimeout)
            defer { lock.release() }
            guard let key = try? self.cacheKey(create: false), let entry = self.read(key: key) else { return }
            if entry.token.value == token.value { unlink(self.entryPath) }
        }
        if memory?.token.value == token.value { memory = nil }
    }

    /// Forgets the cached token of this profile and environment.
    @discardableResult
    package nonisolated func clear() throws -> Bool {
        guard SecureFiles.exists(entryPath) else { return false }
        return try SecureFiles.withLock(lockPath, timeout: lockTimeout) { unlink(entryPath) == 0 }
    }

    // MARK: freshness

    /// Valid for longer than the margin. The margin never exceeds half the
    /// token's lifetime, so short-lived tokens are still used.
    nonisolated func isFresh(_ t: AccessToken) -> Bool {
        let now = clock()
        guard now >= t.obtainedAt - 300 else { return false }  // the clock went back: distrust
        return now < t.expiresAt - min(margin, t.lifetime / 2)
    }

    // MARK: entries

    /// An entry's plaintext (docs/token-cache.md): fingerprint (32), stamp
    /// (32), obtained and expiry times (i64 LE each), token length (u32 LE),
    /// token bytes.
    package struct Entry {
        let fingerprint: [UInt8]
        let stamp: [UInt8]
        package let token: AccessToken

        package static func decode(_ p: UnsafeRawBufferPointer) -> Entry? {
            var r = ByteReader(p)
            guard let fingerprint = try? r.bytes(32), let stamp = try? r.bytes(32),
                  let obtainedAt = try? r.integer(Int64.self), let expiresAt = try? r.integer(Int64.self),
                  let length = try? r.integer(UInt32.self), length > 0, Int(length) == r.remaining,
                  let value = try? r.take(Int(length))
            else { return nil }
            let token = AccessToken(value: SecretBytes(copying: value), type: "Bearer", obtainedAt: obtainedAt, expiresAt: expiresAt)
            return Entry(fingerprint: fingerprint, stamp: stamp, token: token)
        }

        package func encoded() throws -> SecretBytes {
            let entry = self
            return try SecretBytes(count: 84 + token.value.count) { out in
                var w = ByteWriter(out)
                w.put(entry.fingerprint)
                w.put(entry.stamp)
                w.integer(entry.token.obtainedAt)
                w.integer(entry.token.expiresAt)
                w.integer(UInt32(entry.token.value.count))
                w.put(entry.token.value)
            }
        }
    }

    static let magic = Array("CPROTOK1".utf8)

    nonisolated var associatedData: [UInt8] { Self.magic + Array("\(profile.value)\0\(environment.rawValue)".utf8) }

    nonisolated func read(key: SecretBytes) -> Entry? {
        // An entry someone else could have planted is ignored (and replaced).
        guard (try? SecureFiles.checkOwnership(entryPath, roots: trustRoots)) != nil,
              let file = try? SecureFiles.read(entryPath, limit: 1 << 16),
              file.count > 8 + 24 + 16, Array(file[0..<8]) == Self.magic
        else { return nil }
        let nonce = Array(file[8..<32]), sealed = Array(file[32...])
        guard let plain = AEAD.open(sealed[...], nonce: nonce[...], ad: associatedData[...], key: key) else {
            logger.debug("token: cache entry unreadable (other key or damaged); ignoring it")
            return nil
        }
        return plain.withUnsafeBytes(Entry.decode)
    }

    nonisolated func write(_ entry: Entry, key: SecretBytes) throws {
        let plain = try entry.encoded()
        let nonce = Sodium.randomBytes(AEAD.nonceSize)
        let sealed = AEAD.seal(plain, nonce: nonce, ad: associatedData, key: key)
        try SecureFiles.atomicWrite(entryPath, bytes: Self.magic + nonce + sealed)
    }

    // MARK: keys

    /// The per-user cache key, created once (first writer wins, via link(2)).
    nonisolated func cacheKey(create: Bool) throws -> SecretBytes {
        try SecureFiles.checkOwnership(keyPath, roots: trustRoots)
        if let bytes = try SecureFiles.read(keyPath, limit: 64), bytes.count == 32 {
            return SecretBytes(copying: bytes)
        }
        guard create else { throw Failure("no token cache key", fr: "pas de clé de cache de jetons") }
        try SecureFiles.ensurePrivateDirectory(keyDirectory)
        var fresh = Sodium.randomBytes(32)
        defer { Sodium.memzero(&fresh) }
        // Unique per call: concurrent checks in one process (health --all)
        // must not share, and so unlink, each other's temporary file.
        let tmp = keyPath + ".new-\(getpid())-" + Sodium.randomBytes(6).map { String($0, radix: 16) }.joined()
        try SecureFiles.atomicWrite(tmp, bytes: fresh)
        if link(tmp, keyPath) != 0 && errno != EEXIST {
            let code = errno
            unlink(tmp)
            throw SecureFiles.IOError(operation: "link", path: keyPath, code: code)
        }
        unlink(tmp)
        guard let bytes = try SecureFiles.read(keyPath, limit: 64), bytes.count == 32 else {
            throw Failure("the token cache key \(keyPath) is damaged; delete it", fr: "la clé du cache de jetons \(keyPath) est abîmée ; supprimez-la")
        }
        return SecretBytes(copying: bytes)
    }

    /// Keyed BLAKE2b-256 over length-prefixed parts.
    static func hash(key: SecretBytes, _ parts: [[UInt8]]) -> [UInt8] {
        var input: [UInt8] = []
        for part in parts { input += LittleEndian.bytes(UInt32(part.count)) + part }
        defer { Sodium.memzero(&input) }
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { k in
            _ = crypto_generichash(&out, 32, input, UInt64(input.count), k.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        }
        return out
    }

    static func fingerprint(key: SecretBytes, id: SecretBytes, secret: SecretBytes, oauthURL: String) -> [UInt8] {
        var i = id.unprotectedBytes, s = secret.unprotectedBytes
        defer { Sodium.memzero(&i); Sodium.memzero(&s) }
        return hash(key: key, [i, s, Array(oauthURL.utf8)])
    }
}

/// A first-come, first-served turn for tasks, without blocking a thread.
actor AsyncGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func serialized<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
        defer {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
        return try await work()
    }
}
