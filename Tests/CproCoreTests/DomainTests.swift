import Foundation
import Testing
@testable import CproCore

@Suite(.timeLimit(.minutes(10))) struct DomainTests {
    @Test func languageFollowsPosixPrecedence() {
        #expect(Language.from(environment: [:]) == .en)
        #expect(Language.from(environment: ["LANG": "fr_FR.UTF-8"]) == .fr)
        #expect(Language.from(environment: ["LANG": "fr_FR.UTF-8", "LC_ALL": "C"]) == .en)
        #expect(Language.from(environment: ["LANG": "en_US", "LC_MESSAGES": "fr_CA"]) == .fr)
        #expect(Language.from(environment: ["LC_ALL": "", "LANG": "fr_BE"]) == .fr)
    }

    @Test(arguments: ["default", "acme", "Acme_2.prod", "a", String(repeating: "x", count: 64)])
    func validProfileNames(_ name: String) throws {
        #expect(try ProfileName(name).value == name)
    }

    @Test(arguments: ["", "-x", ".hidden", "a/b", "a b", "é", String(repeating: "x", count: 65), "a\nb"])
    func invalidProfileNames(_ name: String) {
        #expect(throws: Failure.self) { try ProfileName(name) }
    }

    @Test func fieldParsingNeverEchoesTheArgument() throws {
        #expect(try Field.parse("client-secret") == .stored(.clientSecret))
        #expect(try Field.parse("cpro-account") == .cproAccount)
        let secret = "hunter2-very-secret"
        do {
            _ = try Field.parse(secret)
            Issue.record("accepted a non-field")
        } catch let e as Failure {
            #expect(!e.en.contains(secret) && !e.fr.contains(secret))
        }
    }

    @Test func cproAccountIsBase64OfUTF8LoginColonPassword() throws {
        let login = "TECH_1_ACME@cpro.fr", password = "pässwörd:with colon €"
        var creds = Credentials()
        creds.values[.techLogin] = StoredValue(SecretBytes(utf8: login), setAt: 0)
        creds.values[.techPassword] = StoredValue(SecretBytes(utf8: password), setAt: 0)
        let header = try creds.cproAccount()
        #expect(header.unprotectedString == Data("\(login):\(password)".utf8).base64EncodedString())
        let (l, p) = try CproAccount.decode(header)
        #expect(l.unprotectedString == login)
        #expect(p.unprotectedString == password)
        #expect(throws: Failure.self) { try CproAccount.decode(SecretBytes(utf8: "not base64!")) }
        #expect(throws: Failure.self) { try CproAccount.decode(SecretBytes(utf8: Data("nocolon".utf8).base64EncodedString())) }
    }

    /// Most real 40-byte credentials encode to a `+` or a `/`: the header is
    /// standard base64 (RFC 4648 section 4), padded, never the URL-safe
    /// alphabet. The expected text is written out, not computed by the same
    /// library.
    @Test func cproAccountUsesTheStandardAlphabetWithPadding() throws {
        var creds = Credentials()
        creds.values[.techLogin] = StoredValue(SecretBytes(utf8: "TECH_1_00000000000000@cpro.fr"), setAt: 0)
        creds.values[.techPassword] = StoredValue(SecretBytes(utf8: "p>?>?~~~"), setAt: 0)
        let header = try creds.cproAccount().unprotectedString
        #expect(header == "VEVDSF8xXzAwMDAwMDAwMDAwMDAwQGNwcm8uZnI6cD4/Pj9+fn4=")
        #expect(header.contains("+") && header.contains("/") && header.hasSuffix("="))
        let (_, p) = try CproAccount.decode(SecretBytes(utf8: header))
        #expect(p.unprotectedString == "p>?>?~~~")
    }

    @Test func cproAccountNeedsBothHalves() {
        var creds = Credentials()
        creds.values[.techLogin] = StoredValue(SecretBytes(utf8: "TECH_1@cpro.fr"), setAt: 0)
        #expect(throws: Failure.self) { try creds.cproAccount() }
    }

    @Test func secretBytesNeverPrintThemselves() {
        let s = SecretBytes(utf8: "topsecret")
        #expect(!"\(s)".contains("topsecret"))
        #expect(!String(reflecting: s).contains("topsecret"))
        #expect(s == SecretBytes(utf8: "topsecret"))
        #expect(s != SecretBytes(utf8: "topsecreT"))
        #expect(s != SecretBytes(utf8: "topsecret "))
    }

    @Test func secretBytesSurviveAThrowingFill() {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try SecretBytes(count: 32) { _ in throw Boom() } }
    }
}

@Suite(.timeLimit(.minutes(10))) struct ValidationTests {
    let uuid = "d3b0a3c2-1111-2222-3333-444455556666"

    @Test func acceptsOrdinaryValuesSilently() throws {
        #expect(try Validation.check(.clientID, SecretBytes(utf8: uuid)).isEmpty)
        #expect(try Validation.check(.clientSecret, SecretBytes(utf8: "a b \"c\" $d #e \\f ü €")).isEmpty)
        #expect(try Validation.check(.techLogin, SecretBytes(utf8: "TECH_1_12345678900011@cpro.fr")).isEmpty)
        #expect(try Validation.check(.techPassword, SecretBytes(utf8: String(repeating: "é", count: 2048))).isEmpty)
    }

    @Test(arguments: ["", "a\nb", "tab\there", "del\u{7F}", "c1\u{85}x", "cr\r", String(repeating: "x", count: 16385)])
    func refusesWithoutRevealing(_ value: String) {
        do {
            try Validation.check(.clientSecret, SecretBytes(utf8: value))
            Issue.record("accepted \(value.debugDescription)")
        } catch let e as Failure {
            #expect(e.en.contains("client-secret"))
            if value.count > 2 { #expect(!e.en.contains(value) && !e.fr.contains(value)) }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aLoginCannotHoldAColon() throws {
        #expect(throws: Failure.self) { try Validation.check(.techLogin, SecretBytes(utf8: "TECH:1@cpro.fr")) }
        #expect(try Validation.check(.techPassword, SecretBytes(utf8: "pass:word")).isEmpty)
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: Failure.self) { try Validation.check(.techPassword, SecretBytes(copying: [0x61, 0xFF, 0x62])) }
    }

    @Test func warnsOnUnusualShapes() throws {
        #expect(try Validation.check(.clientID, SecretBytes(utf8: "my-app")).count == 1)
        #expect(try Validation.check(.techLogin, SecretBytes(utf8: "jean.dupont@example.fr")).count == 1)
        #expect(try Validation.check(.clientSecret, SecretBytes(utf8: " padded ")).count == 1)
    }
}
