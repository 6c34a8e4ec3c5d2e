import CproCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The embedded default: one libsodium-encrypted file (see VaultFormat).
///
/// Every change is read-modify-write under an exclusive lock with an atomic
/// replace, so concurrent cpro processes never lose each other's updates, and a
/// crash leaves the old vault or the new one.
///
/// Its mutable state (the derived key, the passphrase, the agent's answer)
/// is in a Mutex, and `serial`, taken by each package entry point, makes one
/// operation at a time per store; the async ones do their blocking work (the vault lock,
/// Argon2id, the agent's socket) through `Blocking`, off the cooperative pool.
package final class FileStore: CredentialStore, Sendable {
    package let kind = BackendKind.file
    package let path: String
    let lockPath: String
    let passphrases: PassphraseSource
    let params: VaultFormat.KDFParams
    let environment: [String: String]
    let logger: Logger
    let notice: @Sendable (Failure) -> Void
    /// Up to where the vault's folders must be the user's.
    let trustRoots: [String]
    /// The session agent to ask before deriving a key; nil when not wanted
    /// (`--no-agent`, `agent = false`, CPRO_VAULT_PASSPHRASE set).
    let agent: AgentClient?
    /// Taken by every package entry point: one operation at a time per store.
    private let serial = RecursiveLock()

    /// What one command learns as it goes. `serial` makes each operation see
    /// it consistently; the Mutex makes each access safe on its own, so the
    /// compiler, not a comment, proves the store Sendable.
    struct State {
        /// Set once the agent could not open this vault, so a command asks it once.
        var agentDeclined = false
        /// The passphrase key of the last header seen, so a command that opens
        /// the vault twice (before and inside the lock) pays Argon2id once.
        var cachedKEK: (header: [UInt8], kek: SecretBytes)?
        var cachedPassphrase: SecretBytes?
        /// A new vault's passphrase, chosen by `unlock()` before the values are typed.
        var pendingCreation: SecretBytes?
        var warnedExposed = false
    }
    private let state = Mutex(State())

    private var agentDeclined: Bool {
        get { state.withLock { $0.agentDeclined } }
        set { state.withLock { $0.agentDeclined = newValue } }
    }
    private var cachedKEK: (header: [UInt8], kek: SecretBytes)? {
        get { state.withLock { $0.cachedKEK } }
        set { state.withLock { $0.cachedKEK = newValue } }
    }
    private var cachedPassphrase: SecretBytes? {
        get { state.withLock { $0.cachedPassphrase } }
        set { state.withLock { $0.cachedPassphrase = newValue } }
    }
    private var pendingCreation: SecretBytes? {
        get { state.withLock { $0.pendingCreation } }
        set { state.withLock { $0.pendingCreation = newValue } }
    }

    package init(
        path: String, lockPath: String, passphrases: PassphraseSource,
        params: VaultFormat.KDFParams = .standard, environment: [String: String] = [:],
        logger: Logger = Logger(label: "cpro.vault"),
        trustRoots: [String] = [],
        agent: AgentClient? = nil,
        notice: @escaping @Sendable (Failure) -> Void = { _ in }
    ) {
        self.trustRoots = trustRoots
        self.agent = agent
        self.notice = notice
        self.path = path
        self.lockPath = lockPath
        self.passphrases = passphrases
        self.params = params
        self.environment = environment
        self.logger = logger
    }

    var directory: String { SecureFiles.dirname(of: path) }
    /// The weakest key derivation this store opens: libsodium's interactive
    /// settings, lower only for a store that a test made with weaker ones.
    package var readFloor: VaultFormat.KDFParams { params.isWeaker(than: .interactive) ? .testOnlyWeak : .interactive }
    package var exists: Bool { SecureFiles.exists(path) }

    /// The passphrase key, derived (asking for the passphrase) and checked
    /// against the vault: what `cpro vault unlock` hands to the agent.
    package func keyForAgent() throws -> SecretBytes {
        serial.lock()
        defer { serial.unlock() }
        agentDeclined = true
        guard try openCurrent() != nil, let kek = cachedKEK?.kek else { throw noVault }
        return kek
    }

    /// Asks for the passphrase now (and checks it, or for a new vault has it
    /// confirmed), so an interactive command fails before the user types values.
    package func prepareForWrite() throws { try unlock() }

    package func unlock() throws {
        serial.lock()
        defer { serial.unlock() }
        if exists {
            _ = try openCurrent()
        } else if pendingCreation == nil {
            pendingCreation = try newPassphrase(.create(path: path))
        }
    }

    // MARK: CredentialStore

    package func read(_ profile: ProfileName, _ env: PisteEnvironment) async throws -> Credentials {
        try await serialized {
            guard let vault = try self.openCurrent() else { return Credentials() }
            var out = Credentials()
            for (key, value) in vault.entries where key.profile == profile && key.environment == env {
                out.values[key.field] = value
            }
            return try out.checked(self.kind)
        }
    }

    package func write(_ values: [CredentialKey: StoredValue]) async throws {
        try await serialized {
            try self.mutate(createIfAbsent: true) { entries in
                for (k, v) in values { entries[k] = v }
            }
        }
    }

    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] {
        try await serialized {
            guard self.exists else { return [] }
            var removed: [CredentialKey] = []
            try self.mutate(createIfAbsent: false) { entries in
                removed = keys.filter { entries.removeValue(forKey: $0) != nil }
            }
            return removed.sorted()
        }
    }

    package func list() async throws -> [CredentialKey: Int64?] {
        try await serialized {
            guard let vault = try self.openCurrent() else { return [:] }
            return vault.entries.mapValues { Optional($0.setAt) }
        }
    }

    /// On a thread of its own (Blocking), one operation at a time.
    func serialized<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run {
            self.serial.lock()
            defer { self.serial.unlock() }
            return try work()
        }
    }

    package func status() async -> BackendStatus {
        var details: [String: String] = [:]
        guard let bytes = try? SecureFiles.read(path, limit: VaultFormat.maxFileSize) else {
            return BackendStatus(backend: kind, location: path, state: exists ? .damaged : .absent)
        }
        if let mode = SecureFiles.mode(of: path) { details["mode"] = String(mode, radix: 8) }
        do {
            let h = try VaultFormat.parseHeader(bytes, path: path, floor: readFloor)
            details["format"] = String(h.version)
            details["kdf"] = "argon2id13 opslimit=\(h.params.opslimit) memlimit=\(h.params.memlimit >> 20)MiB"
            details["size"] = String(bytes.count)
            return BackendStatus(backend: kind, location: path, state: .locked, details: details)
        } catch let e as CproError {
            return BackendStatus(backend: kind, location: path, state: .damaged, details: details, problem: e)
        } catch {
            return BackendStatus(backend: kind, location: path, state: .damaged, details: details)
        }
    }

    /// The vault file's identity and times: every write replaces the file (a new
    /// inode), so any change shows here without the passphrase.
    package func changeStamp() -> [UInt8]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return Array("absent".utf8) }
        let parts: [UInt64] = [
            UInt64(st.st_dev), UInt64(st.st_ino), UInt64(st.st_size),
            UInt64(st.st_mtim.tv_sec), UInt64(st.st_mtim.tv_nsec), UInt64(st.st_ctim.tv_sec), UInt64(st.st_ctim.tv_nsec),
        ]
        return Array("file".utf8) + parts.flatMap(LittleEndian.bytes)
    }

    // MARK: vault commands

    /// Creates an empty vault; refuses to overwrite one.
    package func initialise() throws {
        serial.lock()
        defer { serial.unlock() }
        guard !exists else {
            throw Failure(
                "a vault already exists at \(path); use `cpro vault passwd` to change its passphrase",
                fr: "un coffre existe déjà à \(path) ; utilisez `cpro vault passwd` pour changer sa phrase de passe")
        }
        let passphrase = try newPassphrase(.create(path: path))
        try SecureFiles.ensurePrivateDirectory(directory)
        try SecureFiles.withLock(lockPath) {
            guard !exists else {
                throw Failure("a vault was created at \(path) meanwhile", fr: "un coffre a été créé entre-temps à \(path)")
            }
            let (file, _) = try VaultFormat.create(passphrase: passphrase, params: params)
            try commit(file)
        }
    }

    /// A new passphrase and, by default, a new master key: every value is
    /// sealed again, so an old copy of the vault and the old passphrase open
    /// nothing written afterwards. `rewrapOnly` keeps the master key and the
    /// sealed contents (fast, but an old copy plus the old passphrase still
    /// yields the master key of every later write). The KDF settings keep, for
    /// each parameter, the stronger of the vault's and the default.
    package func changePassphrase(rewrapOnly: Bool = false) throws {
        serial.lock()
        defer { serial.unlock() }
        guard exists else { throw noVault }
        // The old passphrase is asked even when the agent holds the key: an
        // unlocked session is not a licence to change it.
        agentDeclined = true
        _ = try openCurrent()  // check the old passphrase before asking for a new one
        let newPass = try newPassphrase(.change(path: path))
        try SecureFiles.withLock(lockPath) {
            SecureFiles.removeStaleTemporaries(of: path)
            guard let (_, vault) = try loadAndOpen() else { throw noVault }
            let settings = VaultFormat.KDFParams.strongest(params, vault.header.params)
            let file = rewrapOnly
                ? try VaultFormat.rewrap(vault, newPassphrase: newPass, params: settings)
                : try VaultFormat.rekey(vault, newPassphrase: newPass, params: settings)
            try commit(file)
            cachedKEK = nil
            cachedPassphrase = newPass
        }
    }

    /// The last check before a rename: cpro never writes a vault it could
    /// not read back.
    func commit(_ file: [UInt8]) throws {
        guard file.count <= VaultFormat.maxFileSize else {
            throw Failure(
                "this change would make the vault \(file.count) bytes, over the \(VaultFormat.maxFileSize) bytes a vault may hold; nothing was changed: remove unused profiles first (`cpro creds remove --profile NAME`)",
                fr: "cette modification porterait le coffre à \(file.count) octets, au-delà des \(VaultFormat.maxFileSize) octets permis ; rien n'a été modifié : retirez d'abord des profils inutilisés (`cpro creds remove --profile NOM`)")
        }
        try SecureFiles.atomicWrite(path, bytes: file, environment: environment)
    }

    // MARK: internals

    var noVault: Failure {
        Failure(
            "no vault at \(path) yet: run `cpro vault init`, or `cpro creds set` which creates it",
            fr: "pas encore de coffre à \(path) : lancez `cpro vault init`, ou `cpro creds set` qui le crée")
    }

    func newPassphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        let p = try passphrases.passphrase(purpose)
        guard p.count >= 8 else {
            throw Failure(
                "the vault passphrase must be at least 8 bytes long",
                fr: "la phrase de passe du coffre doit faire au moins 8 octets")
        }
        return p
    }

    func unlockPassphrase() throws -> SecretBytes {
        if let p = cachedPassphrase { return p }
        let p = try passphrases.passphrase(.unlock(path: path))
        cachedPassphrase = p
        return p
    }

    /// Opens the vault as it is now, without the lock (writers replace the file
    /// atomically, so a reader sees one whole version). nil when there is none.
    func openCurrent() throws -> VaultFormat.Unlocked? {
        try loadAndOpen()?.1
    }

    /// Thrown under the lock when the vault's key slot changed since our key
    /// was derived: the caller releases the lock, derives, and tries again.
    struct NeedsKey: Error {}

    func loadAndOpen(deriveIfNeeded: Bool = true) throws -> ([UInt8], VaultFormat.Unlocked)? {
        try SecureFiles.checkOwnership(path, roots: trustRoots)
        guard let bytes = try SecureFiles.read(path, limit: VaultFormat.maxFileSize) else { return nil }
        warnIfExposed()
        let header = try VaultFormat.parseHeader(bytes, path: path, floor: readFloor)
        if cachedKEK == nil, !agentDeclined, let agent {
            if let padded = agent.open(bytes) {
                let vault = try VaultFormat.opened(bytes, header: header, padded: padded, path: path, by: agent)
                logger.debug("vault: opened \(path) through the session agent (\(vault.entries.count) values)")
                return (bytes, vault)
            }
            agentDeclined = true
            logger.debug("vault: no session agent holds this vault's key; using the passphrase")
        }
        var attempt = 0
        while true {
            attempt += 1
            var derivedNow = false
            let kek: SecretBytes
            if let cached = cachedKEK, cached.header == Array(header.bytes[0..<VaultFormat.keySlotADSize]) {
                kek = cached.kek
            } else {
                guard deriveIfNeeded else { throw NeedsKey() }
                let start = monotonicSeconds()
                kek = try VaultFormat.deriveKeyEncryptionKey(header, passphrase: try unlockPassphrase())
                logger.debug("vault: derived the passphrase key in \(Int((monotonicSeconds() - start) * 1000)) ms")
                cachedKEK = (Array(header.bytes[0..<VaultFormat.keySlotADSize]), kek)
                derivedNow = true
            }
            do {
                let vault = try VaultFormat.open(bytes, header: header, kek: kek, path: path)
                logger.debug("vault: opened \(path) (\(vault.entries.count) values)")
                return (bytes, vault)
            } catch let e as VaultFormat.OpenError where e == .wrongPassphrase(path: path) {
                cachedKEK = nil
                cachedPassphrase = nil
                let allowed = passphrases.unlockAttempts
                guard derivedNow, attempt < allowed else { throw wrongPassphrase(e) }
                passphrases.wrongPassphrase(path: path, attemptsLeft: allowed - attempt)
            }
        }
    }

    /// A passphrase variable ending in a newline or a space (`echo` into a
    /// file, a copy from a web page) is the usual cause: said with the error.
    func wrongPassphrase(_ e: VaultFormat.OpenError) -> any Error {
        guard let v = environment["CPRO_VAULT_PASSPHRASE"], let last = v.unicodeScalars.last,
              (last == " " || last == "\t" || last.properties.isWhitespace) else { return e }
        return Failure.vaultLocked(
            e.message(.en) + ". CPRO_VAULT_PASSPHRASE ends in a space or a line break, which is part of the passphrase: remove it if the passphrase has none (e.g. `printf %s` rather than `echo`)",
            fr: e.message(.fr) + ". CPRO_VAULT_PASSPHRASE se termine par une espace ou un saut de ligne, qui fait partie de la phrase de passe : retirez-le si la phrase n'en a pas (par exemple `printf %s` plutôt que `echo`)")
    }

    func mutate(createIfAbsent: Bool, _ change: (inout [CredentialKey: StoredValue]) throws -> Void) throws {
        // Everything that may prompt happens before the lock, so a person typing
        // slowly never holds up other processes.
        var creating: SecretBytes?
        // A vault written with weaker KDF settings than today's gets a new key
        // slot, derived here, before the lock.
        var upgrade: (slot: [UInt8], header: VaultFormat.Header)?
        if exists {
            if let vault = try openCurrent(), vault.header.params.isWeaker(than: params), let passphrase = cachedPassphrase {
                let settings = VaultFormat.KDFParams.strongest(params, vault.header.params)
                upgrade = (Array(vault.header.bytes[0..<VaultFormat.keySlotADSize]),
                           try VaultFormat.upgradedHeader(vault, passphrase: passphrase, params: settings))
            }
        } else if createIfAbsent {
            creating = try pendingCreation ?? newPassphrase(.create(path: path))
        } else {
            throw noVault
        }
        try SecureFiles.ensurePrivateDirectory(directory)
        // Argon2id never runs under the lock: when the vault's key slot is not
        // the one our key was derived for (another process created the vault,
        // or changed its passphrase), release, derive, and take the lock again.
        for _ in 0..<5 {
            do {
                try SecureFiles.withLock(lockPath, timeout: 120) {
                    SecureFiles.removeStaleTemporaries(of: path)
                    let file: [UInt8]
                    if let (_, vault) = try loadAndOpen(deriveIfNeeded: false) {
                        var entries = vault.entries
                        try change(&entries)
                        if let upgrade, upgrade.slot == Array(vault.header.bytes[0..<VaultFormat.keySlotADSize]) {
                            file = try VaultFormat.seal(vault, header: upgrade.header, entries: entries)
                            logger.debug("vault: KDF settings raised to opslimit=\(params.opslimit) memlimit=\(params.memlimit >> 20)MiB")
                        } else {
                            file = try VaultFormat.reseal(vault, entries: entries)
                        }
                    } else {
                        guard let passphrase = creating ?? cachedPassphrase else { throw noVault }
                        var entries: [CredentialKey: StoredValue] = [:]
                        try change(&entries)
                        file = try VaultFormat.create(passphrase: passphrase, params: params, entries: entries).file
                        cachedPassphrase = passphrase
                        logger.debug("vault: created \(path)")
                    }
                    try commit(file)
                }
                return
            } catch is NeedsKey {
                if cachedPassphrase == nil, let creating { cachedPassphrase = creating }
                _ = try openCurrent()
            } catch is AgentClient.Unavailable {
                // The agent went away (or timed out) between opening and sealing.
                agentDeclined = true
                _ = try openCurrent()
            }
        }
        throw Failure("the vault kept changing while cpro tried to write it; retry", fr: "le coffre n'a cessé de changer pendant l'écriture ; réessayez")
    }

    private var warnedExposed: Bool {
        get { state.withLock { $0.warnedExposed } }
        set { state.withLock { $0.warnedExposed = newValue } }
    }
    func warnIfExposed() {
        guard !warnedExposed, let mode = SecureFiles.mode(of: path), mode & 0o077 != 0 else { return }
        warnedExposed = true
        let m = String(mode, radix: 8)
        notice(Failure(
            "\(path) is readable by other users (mode \(m)); run: chmod 600 \(path)",
            fr: "\(path) est lisible par d'autres utilisateurs (mode \(m)) ; lancez : chmod 600 \(path)"))
    }

    func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension VaultFormat.KDFParams: Comparable {
    package static func < (a: Self, b: Self) -> Bool {
        (a.memlimit, a.opslimit) < (b.memlimit, b.opslimit)
    }
}
