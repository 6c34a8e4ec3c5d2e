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
        throw VaultLocked("no passphrase", fr: "pas de phrase de passe")
    }
}

func makeStore(_ dir: String, pass: String = "correct horse battery") -> FileStore {
    FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: FixedPassphrase(value: pass), params: .testOnlyWeak)
}

func tempDir() -> String { NSTemporaryDirectory() + "cpro-vault-" + UUID().uuidString + "/sub" }

@Suite struct FileStoreTests {
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

@Suite struct EnvStoreTests {
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
