import Foundation
import Testing
@testable import CproCore
@testable import CproVault

/// Format tests use weak KDF parameters so that thousands of opens stay fast;
/// the parameters are data in the header, so the code paths are the same.
@Suite(.timeLimit(.minutes(10))) struct VaultFormatTests {
    let pass = SecretBytes(utf8: "correct horse battery staple")
    let weak = VaultFormat.KDFParams.testOnlyWeak

    func sample() throws -> [CredentialKey: StoredValue] {
        let acme = try ProfileName("acme")
        return [
            CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: "d3b0a3c2-1111-2222-3333-444455556666"), setAt: 1),
            CredentialKey(.default, .sandbox, .techPassword): StoredValue(SecretBytes(utf8: "pässwörd \"$#\\"), setAt: 2),
            CredentialKey(acme, .production, .clientSecret): StoredValue(SecretBytes(utf8: String(repeating: "s", count: 4096)), setAt: 3),
        ]
    }

    func open(_ file: [UInt8], _ pass: SecretBytes) throws -> VaultFormat.Unlocked {
        let header = try VaultFormat.parseHeader(file, path: "v", floor: .testOnlyWeak)
        let kek = try VaultFormat.deriveKeyEncryptionKey(header, passphrase: pass)
        return try VaultFormat.open(file, header: header, kek: kek, path: "v")
    }

    @Test func roundTrip() throws {
        let entries = try sample()
        let (file, _) = try VaultFormat.create(passphrase: pass, params: weak, entries: entries)
        #expect(Array(file[0..<8]) == Array("CPROVLT\n".utf8))
        let vault = try open(file, pass)
        #expect(vault.entries.count == 3)
        for (k, v) in entries {
            #expect(vault.entries[k]?.secret == v.secret)
            #expect(vault.entries[k]?.setAt == v.setAt)
        }
        #expect((file.count - 187 - 16) % 256 == 0, "payload padded to 256-byte blocks")
    }

    @Test func wrongPassphraseIsToldApart() throws {
        let (file, _) = try VaultFormat.create(passphrase: pass, params: weak, entries: try sample())
        #expect(throws: VaultFormat.OpenError.wrongPassphrase(path: "v")) { try open(file, SecretBytes(utf8: "wrong one")) }
    }

    @Test func everySingleByteChangeIsDetected() throws {
        let (file, _) = try VaultFormat.create(passphrase: pass, params: weak, entries: try sample())
        for i in 0..<file.count {
            for flip: UInt8 in [0x01, 0x80] {
                var bad = file
                bad[i] ^= flip
                do {
                    _ = try open(bad, pass)
                    Issue.record("byte \(i) ^ \(flip) went unnoticed")
                } catch let e as VaultFormat.OpenError {
                    if case .wrongPassphrase = e { Issue.record("byte \(i): damage reported as a wrong passphrase") }
                }
            }
        }
    }

    @Test func everyTruncationIsDetected() throws {
        let (file, _) = try VaultFormat.create(passphrase: pass, params: weak, entries: try sample())
        for n in 0..<file.count {
            #expect(throws: VaultFormat.OpenError.self) { try open(Array(file[0..<n]), pass) }
        }
        var longer = file
        longer.append(0)
        #expect(throws: VaultFormat.OpenError.self) { try open(longer, pass) }
    }

    @Test func newerFormatIsNamed() throws {
        var (file, _) = try VaultFormat.create(passphrase: pass, params: weak)
        file[8] = 2
        #expect(throws: VaultFormat.OpenError.newerFormat(path: "v", version: 2)) { try open(file, pass) }
    }

    @Test func plantedCostlyParametersAreRefused() throws {
        var (file, _) = try VaultFormat.create(passphrase: pass, params: weak)
        // A header rewritten with a valid checksum but a 1 TiB memlimit.
        for (i, b) in LittleEndian.bytes(UInt64(1) << 40).enumerated() { file[35 + i] = b }
        let sum = VaultFormat.blake2b(file[0..<131])
        file.replaceSubrange(131..<163, with: sum)
        do {
            _ = try VaultFormat.parseHeader(file, path: "v", floor: .testOnlyWeak)
            Issue.record("accepted a 1 TiB memlimit")
        } catch let e as VaultFormat.OpenError {
            guard case .damaged = e else { Issue.record("\(e)"); return }
        }
    }

    /// A weak vault (a test build's, or a planted one whose passphrase is
    /// cheap to guess) is refused by every reader that was not made with weak
    /// settings, and the refusal names the settings.
    @Test func weakKeyDerivationIsRefusedByDefault() throws {
        let (file, _) = try VaultFormat.create(passphrase: pass, params: weak)
        do {
            _ = try VaultFormat.parseHeader(file, path: "v")
            Issue.record("accepted opslimit 1 and an 8 KiB memlimit")
        } catch let e as VaultFormat.OpenError {
            guard case .damaged(_, let reason) = e else { Issue.record("\(e)"); return }
            #expect(reason.contains("weaker than cpro writes"))
            #expect(reason.contains("opslimit 1"))
        }
        // Just under the floor in one parameter only is refused too.
        let (almost, _) = try VaultFormat.create(passphrase: pass, params: .init(opslimit: 2, memlimit: (64 << 20) - 1024))
        #expect(throws: VaultFormat.OpenError.self) { try VaultFormat.parseHeader(almost, path: "v") }
        _ = try VaultFormat.parseHeader(almost, path: "v", floor: weak)
    }

    @Test func notAVault() throws {
        #expect(throws: VaultFormat.OpenError.notAVault(path: "v")) { try open(Array("hello world, this is not it".utf8), pass) }
    }

    @Test func passphraseChangeRewrapsTheKeyOnly() throws {
        let (file, vault) = try VaultFormat.create(passphrase: pass, params: weak, entries: try sample())
        let newPass = SecretBytes(utf8: "a brand new passphrase")
        let rewrapped = try VaultFormat.rewrap(vault, newPassphrase: newPass, params: weak)
        #expect(Array(rewrapped[163...]) == Array(file[163...]), "sealed payload carried over byte for byte")
        #expect(Array(rewrapped[0..<26]) == Array(file[0..<26]), "vault ID kept")
        #expect(Array(rewrapped[43..<59]) != Array(file[43..<59]), "new salt")
        #expect(throws: VaultFormat.OpenError.self) { try open(rewrapped, pass) }
        #expect(try open(rewrapped, newPass).entries.count == 3)
    }

    @Test func payloadsCannotBeSwappedBetweenVaults() throws {
        let (a, _) = try VaultFormat.create(passphrase: pass, params: weak, entries: try sample())
        let (b, _) = try VaultFormat.create(passphrase: pass, params: weak)
        let spliced = Array(b[0..<163]) + Array(a[163...])
        #expect(throws: VaultFormat.OpenError.self) { try open(spliced, pass) }
    }
}
