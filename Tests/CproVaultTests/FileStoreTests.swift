import Foundation
import Testing
@testable import CproCore
@testable import CproVault

struct FixedPassphrase: PassphraseSource {
    let value: String
    var newValue: String = "the new passphrase"
    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        if case .change = purpose { return SecretBytes(utf8: newValue) }
        return SecretBytes(utf8: value)
    }
}

struct NoPassphrase: PassphraseSource {
    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        throw Failure.vaultLocked("no passphrase", fr: "pas de phrase de passe")
    }
}

func makeStore(_ dir: String, pass: String = "correct horse battery") -> FileStore {
    FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: pass), params: .testOnlyWeak)
}

func tempDir() -> String { NSTemporaryDirectory() + "cpro-vault-" + UUID().uuidString + "/sub" }

@Suite(.timeLimit(.minutes(10))) struct FileStoreTests {
    @Test func roundTripsEveryFieldForSeveralProfilesAndBothEnvironments() async throws {
        let dir = tempDir()
        let store = makeStore(dir)
        let profiles = try ["default", "acme", "globex.prod"].map(ProfileName.init)
        var expected: [CredentialKey: String] = [:]
        for p in profiles {
            for e in PisteEnvironment.allCases {
                for f in StoredField.allCases {
                    expected[CredentialKey(p, e, f)] = "\(p)-\(e)-\(f.rawValue)-é €"
                }
            }
        }
        try await store.write(expected.mapValues { StoredValue(SecretBytes(utf8: $0), setAt: 42) })
        let fresh = makeStore(dir)
        for p in profiles {
            for e in PisteEnvironment.allCases {
                let creds = try await fresh.read(p, e)
                #expect(creds.missing.isEmpty)
                for f in StoredField.allCases {
                    #expect(creds[f]?.unprotectedString == expected[CredentialKey(p, e, f)])
                }
            }
        }
        let listed = try await fresh.list()
        #expect(listed.count == 24)
        #expect(listed.values.allSatisfy { $0 == 42 })
        #expect(SecureFiles.mode(of: dir + "/vault.cpro") == 0o600)
        #expect(SecureFiles.mode(of: dir) == 0o700)
    }

    @Test func writesMergeAndRemoveReportsWhatExisted() async throws {
        let store = makeStore(tempDir())
        let k1 = CredentialKey(.default, .sandbox, .clientID), k2 = CredentialKey(.default, .production, .clientID)
        try await store.write([k1: StoredValue(SecretBytes(utf8: "one"), setAt: 1)])
        try await store.write([k2: StoredValue(SecretBytes(utf8: "two"), setAt: 2)])
        try await store.write([k1: StoredValue(SecretBytes(utf8: "uno"), setAt: 3)])
        #expect(try await store.read(.default, .sandbox)[.clientID]?.unprotectedString == "uno")
        #expect(try await store.read(.default, .production)[.clientID]?.unprotectedString == "two")
        #expect(try await store.remove([k1, CredentialKey(.default, .sandbox, .techLogin)]) == [k1])
        #expect(try await store.read(.default, .sandbox).values.isEmpty)
        #expect(try await store.list().count == 1)
    }

    @Test func readingAMissingVaultAsksNothing() async throws {
        let dir = tempDir()
        let store = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: NoPassphrase())
        #expect(try await store.read(.default, .sandbox).values.isEmpty)
        #expect(try await store.list().isEmpty)
        #expect(try await store.remove([CredentialKey(.default, .sandbox, .clientID)]).isEmpty)
        #expect(await store.status().state == .absent)
        #expect(!SecureFiles.exists(dir))
    }

    @Test func wrongPassphraseAndDamageChangeNothing() async throws {
        let dir = tempDir()
        let key = CredentialKey(.default, .sandbox, .clientSecret)
        try await makeStore(dir).write([key: StoredValue(SecretBytes(utf8: "s"), setAt: 1)])
        let before = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20))

        let wrong = makeStore(dir, pass: "not the passphrase")
        await #expect(throws: VaultFormat.OpenError.wrongPassphrase(path: dir + "/vault.cpro")) {
            try await wrong.write([key: StoredValue(SecretBytes(utf8: "other"), setAt: 2)])
        }
        await #expect(throws: VaultFormat.OpenError.self) { _ = try await wrong.remove([key]) }
        #expect(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20) == before)

        var damaged = before
        damaged[damaged.count - 5] ^= 0x40
        try SecureFiles.atomicWrite(dir + "/vault.cpro", bytes: damaged)
        await #expect(throws: VaultFormat.OpenError.self) {
            try await makeStore(dir).write([key: StoredValue(SecretBytes(utf8: "other"), setAt: 2)])
        }
        #expect(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20) == damaged)
        #expect(await makeStore(dir).status().state == .locked, "the header is intact; the damage shows on open")
    }

    @Test func initialiseRefusesToOverwrite() async throws {
        let dir = tempDir()
        let store = makeStore(dir)
        try store.initialise()
        #expect(await store.status().state == .locked)
        #expect(throws: Failure.self) { try store.initialise() }
        #expect(try await store.list().isEmpty)
    }

    @Test func shortPassphrasesAreRefusedAtCreation() async throws {
        let dir = tempDir()
        let store = makeStore(dir, pass: "short")
        await #expect(throws: Failure.self) {
            try await store.write([CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "x"), setAt: 1)])
        }
        #expect(!SecureFiles.exists(dir + "/vault.cpro"))
    }

    @Test func changePassphraseKeepsValues() async throws {
        let dir = tempDir()
        let key = CredentialKey(.default, .production, .techPassword)
        try await makeStore(dir).write([key: StoredValue(SecretBytes(utf8: "kept"), setAt: 7)])
        try makeStore(dir).changePassphrase()
        await #expect(throws: VaultFormat.OpenError.self) { _ = try await makeStore(dir).list() }
        let reopened = makeStore(dir, pass: "the new passphrase")
        #expect(try await reopened.read(.default, .production)[.techPassword]?.unprotectedString == "kept")
    }

    /// An attacker holding an old copy and the old passphrase must not open
    /// what is written after `passwd` (the master key changed).
    @Test func passwdMakesANewMasterKey() async throws {
        let dir = tempDir()
        let key = CredentialKey(.default, .production, .techPassword)
        try await makeStore(dir).write([key: StoredValue(SecretBytes(utf8: "before"), setAt: 7)])
        let oldCopy = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20))
        let oldHeader = try VaultFormat.parseHeader(oldCopy, path: "old", floor: .testOnlyWeak)
        let oldKEK = try VaultFormat.deriveKeyEncryptionKey(oldHeader, passphrase: SecretBytes(utf8: "correct horse battery"))
        let oldMaster = try VaultFormat.open(oldCopy, header: oldHeader, kek: oldKEK, path: "old").masterKey!
        try makeStore(dir).changePassphrase()
        let renewed = makeStore(dir, pass: "the new passphrase")
        try await renewed.write([key: StoredValue(SecretBytes(utf8: "after"), setAt: 8)])
        let now = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20))
        let header = try VaultFormat.parseHeader(now, path: "now", floor: .testOnlyWeak)
        #expect(Array(header.fileHeader) == Array(oldHeader.fileHeader), "same vault ID")
        // The old master key does not open the new contents.
        #expect(throws: (any Error).self) { _ = try VaultFormat.open(now, header: header, kek: oldMaster, path: "now") }
        let newMaster = try VaultFormat.open(now, header: header, kek: try VaultFormat.deriveKeyEncryptionKey(header, passphrase: SecretBytes(utf8: "the new passphrase")), path: "now").masterKey!
        #expect(newMaster != oldMaster)
        #expect(try await renewed.read(.default, .production)[.techPassword]?.unprotectedString == "after")
    }

    @Test func rewrapOnlyKeepsTheMasterKey() async throws {
        let dir = tempDir()
        try await makeStore(dir).write([CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "x"), setAt: 1)])
        let before = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20))
        try makeStore(dir).changePassphrase(rewrapOnly: true)
        let after = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20))
        #expect(Array(before[VaultFormat.headerSize...]) == Array(after[VaultFormat.headerSize...]), "sealed contents byte for byte")
    }

    /// Each KDF parameter keeps the stronger of the vault's and the store's:
    /// a vault with more passes and less memory must not lose its passes.
    @Test func kdfSettingsNeverWeakenAndWeakVaultsAreUpgradedOnWrite() async throws {
        let dir = tempDir()
        let strongOps = VaultFormat.KDFParams(opslimit: 4, memlimit: 8192)
        let first = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: "correct horse battery"), params: strongOps)
        try await first.write([CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "x"), setAt: 1)])
        let moreMemory = VaultFormat.KDFParams(opslimit: 1, memlimit: 16384)
        let second = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: "correct horse battery"), params: moreMemory)
        try second.changePassphrase()
        var h = try VaultFormat.parseHeader(try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20)), path: "v", floor: .testOnlyWeak)
        #expect(h.params == VaultFormat.KDFParams(opslimit: 4, memlimit: 16384))
        // A plain write by a store whose default is stronger raises the vault's settings.
        let stronger = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: "the new passphrase"),
                                 params: VaultFormat.KDFParams(opslimit: 5, memlimit: 16384))
        try await stronger.write([CredentialKey(.default, .sandbox, .clientSecret): StoredValue(SecretBytes(utf8: "y"), setAt: 2)])
        h = try VaultFormat.parseHeader(try #require(try SecureFiles.read(dir + "/vault.cpro", limit: 1 << 20)), path: "v", floor: .testOnlyWeak)
        #expect(h.params.opslimit == 5)
        #expect(try await makeStore(dir, pass: "the new passphrase").read(.default, .sandbox).values.count == 2)
    }

    /// Today's limit is what the reader accepts: a write past it is refused
    /// before any rename, and the vault stays as it was.
    @Test func aWriteTheReaderWouldRefuseIsRefused() async throws {
        let dir = tempDir()
        let store = makeStore(dir)
        try await store.write([CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "x"), setAt: 1)])
        let before = try #require(try SecureFiles.read(dir + "/vault.cpro", limit: VaultFormat.maxFileSize))
        let big = String(repeating: "v", count: Validation.maxValueBytes)
        var values: [CredentialKey: StoredValue] = [:]
        for i in 0..<200 {
            for f in StoredField.allCases {
                values[CredentialKey(try ProfileName("p\(i)"), .production, f)] = StoredValue(SecretBytes(utf8: f == .techLogin ? "TECH_\(i)@cpro.fr" : big), setAt: 1)
            }
        }
        let e = await #expect(throws: Failure.self) { try await store.write(values) }
        #expect(e?.en.contains("nothing was changed") == true)
        #expect(try SecureFiles.read(dir + "/vault.cpro", limit: VaultFormat.maxFileSize) == before)
        #expect(try await store.list().count == 1)
    }

    @Test func staleTemporariesAreCleanedOnTheNextWrite() async throws {
        let dir = tempDir()
        let store = makeStore(dir)
        try store.initialise()
        FileManager.default.createFile(atPath: dir + "/vault.cpro.tmp-99999-dead", contents: Data([1, 2]))
        try await store.write([CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "x"), setAt: 1)])
        #expect(!SecureFiles.exists(dir + "/vault.cpro.tmp-99999-dead"))
    }

    @Test func looseVaultPermissionsAreReported() async throws {
        let dir = tempDir()
        let notices = NoticeBox()
        let store = FileStore(
            path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: "correct horse battery"),
            params: .testOnlyWeak, notice: { notices.add($0) })
        try store.initialise()
        chmod(dir + "/vault.cpro", 0o644)
        _ = try await store.list()
        #expect(notices.all.count == 1)
        #expect(notices.all.first?.en.contains("chmod 600") == true)
    }
}

final class NoticeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Failure] = []
    func add(_ f: Failure) { lock.withLock { items.append(f) } }
    var all: [Failure] { lock.withLock { items } }
}

@Suite(.timeLimit(.minutes(10))) struct EnvStoreTests {
    @Test func readsTheContractVariablesForTheSelection() async throws {
        let store = EnvStore(
            variables: ["PISTE_CLIENT_ID": "id", "PISTE_CLIENT_SECRET": "sec", "CPRO_TECH_LOGIN": "TECH_1@cpro.fr", "CPRO_TECH_PASSWORD": ""],
            profile: .default, environment: .sandbox)
        let creds = try await store.read(.default, .sandbox)
        #expect(creds[.clientSecret]?.unprotectedString == "sec")
        #expect(creds.missing == [.techPassword])
        #expect(try await store.read(.default, .production).values.isEmpty)
        #expect(try await store.list().count == 3)
        await #expect(throws: Failure.self) { try await store.write([:]) }
        await #expect(throws: Failure.self) { _ = try await store.remove([]) }
        #expect(await store.status().state == .ready)
    }
}

@Suite(.timeLimit(.minutes(10))) struct StoredValueCheckTests {
    /// A value another tool put in a backend is checked as if typed in.
    @Test func aControlCharacterReadFromTheVaultIsNamed() async throws {
        let dir = tempDir()
        try await makeStore(dir).write([CredentialKey(.default, .sandbox, .clientSecret): StoredValue(SecretBytes(utf8: "abc\u{0}def"), setAt: 1)])
        let e = await #expect(throws: Failure.self) { _ = try await makeStore(dir).read(.default, .sandbox) }
        #expect(e?.en.contains("client-secret read from the file backend") == true, "\(String(describing: e))")
        #expect(e?.en.contains("abc") == false, "never the value")
    }

    @Test func aLineBreakInAVariableIsNamed() async throws {
        let env = EnvStore(variables: ["PISTE_CLIENT_SECRET": "line1\nline2"], profile: .default, environment: .sandbox)
        let e = await #expect(throws: Failure.self) { _ = try await env.read(.default, .sandbox) }
        #expect(e?.en.contains("client-secret read from the env backend") == true)
    }
}
