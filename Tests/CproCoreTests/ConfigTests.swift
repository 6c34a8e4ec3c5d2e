import Foundation
import Testing
@testable import CproCore

@Suite struct ConfigTests {
    @Test func readsTheDocumentedSubset() throws {
        let c = try Config(text: """
            # cpro settings
            backend = "file"   # default
            token_refresh_margin = 300

            [profiles.default.sandbox]
            oauth_url = "http://127.0.0.1:8080"
            api_url = "http://127.0.0.1:8080/cpro"

            [profiles."acme.prod".production]
            api_url = "https://api.piste.gouv.fr/cpro"
            """)
        #expect(c.backend == "file")
        #expect(c.integer("token_refresh_margin") == 300)
        #expect(c.profiles.map(\.value) == ["acme.prod", "default"])
        #expect(c.environmentValue(.default, .sandbox, "oauth_url") == .string("http://127.0.0.1:8080"))
        #expect(c.warnings.isEmpty)
    }

    @Test(arguments: [
        ("backend = file", "line 1"),
        ("backend = \"nope\"", "line 1"),
        ("\n[profiles.default.staging]", "line 2"),
        ("[other]", "line 1"),
        ("[profiles.default.sandbox]\noauth_url = \"http://piste.example.com\"", "line 2"),
        ("[profiles.default.sandbox]\napi_url = \"ftp://x\"", "line 2"),
        ("backend = \"file\"\nbackend = \"file\"", "line 2"),
        ("backend = \"unterminated", "line 1"),
        ("token_refresh_margin = -5", "line 1"),
        ("[profiles.default.sandbox]\n[profiles.default.sandbox]", "line 2"),
    ])
    func malformedFilesNameTheLine(_ text: String, _ line: String) {
        do {
            _ = try Config(text: text)
            Issue.record("accepted \(text.debugDescription)")
        } catch let e as Failure {
            #expect(e.en.contains(line), "\(e.en)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func unknownKeysWarnButLoad() throws {
        let c = try Config(text: "future_key = 1\n")
        #expect(c.warnings.count == 1)
    }

    @Test func editsKeepCommentsAndOtherLines() throws {
        var c = try Config(text: "# keep me\nbackend = \"file\"\n\n[profiles.default.sandbox]\n# and me\napi_url = \"https://a.example/cpro\"\n")
        try c.set("backend", .string("env"))
        try c.set("oauth_url", .string("http://127.0.0.1:9"), in: Config.section(.default, .sandbox))
        try c.set("api_url", .string("https://b.example/cpro"), in: Config.section(.default, .sandbox))
        try c.set("api_url", .string("https://c.example/cpro"), in: Config.section(try ProfileName("x"), .production))
        #expect(c.text.contains("# keep me") && c.text.contains("# and me"))
        let again = try Config(text: c.text)
        #expect(again.backend == "env")
        #expect(again.environmentValue(.default, .sandbox, "oauth_url") == .string("http://127.0.0.1:9"))
        #expect(again.environmentValue(.default, .sandbox, "api_url") == .string("https://b.example/cpro"))
        #expect(again.environmentValue(try ProfileName("x"), .production, "api_url") == .string("https://c.example/cpro"))
        try c.set("backend", nil)
        #expect(try Config(text: c.text).backend == nil)
    }

    @Test func stringsRoundTripThroughQuoting() throws {
        var c = try Config()
        let weird = "a \"quoted\" \\ back\tslash é \u{1}"
        try c.set("x_comment", .string(weird))
        #expect(try Config(text: c.text).string("x_comment") == weird)
    }
}

@Suite struct SettingsTests {
    @Test func pathsFollowCproHomeThenXDG() throws {
        let p = try Paths.resolve(environment: ["CPRO_HOME": "/tmp/x/", "HOME": "/home/u"])
        #expect(p.vaultFile == "/tmp/x/vault.cpro" && p.configFile == "/tmp/x/config.toml")
        let q = try Paths.resolve(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "relative/ignored"])
        #expect(q.configFile == "/cfg/cpro/config.toml")
        #expect(q.vaultFile == "/home/u/.local/share/cpro/vault.cpro")
        #expect(q.tokenDirectory == "/home/u/.cache/cpro/tokens")
    }

    @Test func endpointsPrecedence() throws {
        let config = try Config(text: "[profiles.default.production]\napi_url = \"https://proxy.example/cpro\"\n")
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        let plain = Settings(paths: paths, config: config, environment: [:])
        #expect(try plain.endpoints(.default, .sandbox) == Endpoints.defaults(.sandbox))
        #expect(try plain.endpoints(.default, .production).apiURL == "https://proxy.example/cpro")
        #expect(try plain.endpoints(.default, .production).oauthURL == "https://oauth.piste.gouv.fr")
        let env = Settings(paths: paths, config: config, environment: ["PISTE_OAUTH_URL": "http://127.0.0.1:8080", "CPRO_API_URL": "http://localhost:8080/cpro/"])
        let e = try env.endpoints(.default, .production)
        #expect(e.tokenURL == "http://127.0.0.1:8080/api/oauth/token")
        #expect(e.apiURL(path: "utilisateurs/v1/x") == "http://localhost:8080/cpro/utilisateurs/v1/x")
        let bad = Settings(paths: paths, config: config, environment: ["PISTE_OAUTH_URL": "http://10.0.0.1"])
        #expect(throws: Failure.self) { try bad.endpoints(.default, .sandbox) }
    }

    @Test func retiredGatewayIsNoticed() {
        #expect(Endpoints(oauthURL: "https://sandbox-oauth.aife.economie.gouv.fr", apiURL: "x").usesRetiredGateway)
        #expect(!Endpoints.defaults(.production).usesRetiredGateway)
    }

    @Test func backendSelection() throws {
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        let s = Settings(paths: paths, config: try Config(text: "backend = \"env\""), environment: [:])
        #expect(try s.backend(override: nil) == .env)
        #expect(try s.backend(override: "file") == .file)
        #expect(throws: Failure.self) { try s.backend(override: "keychain") }
        let v = Settings(paths: paths, config: try Config(), environment: ["CPRO_BACKEND": "env"])
        #expect(try v.backend(override: nil) == .env)
    }

    @Test func openbaoSettingsPrecedence() throws {
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        let config = try Config(text: """
            openbao_addr = "https://bao.example.org:8200/"
            openbao_mount = "teams/billing"
            openbao_prefix = "chorus"
            """)
        let fromConfig = try Settings(paths: paths, config: config, environment: [:]).openbao()
        #expect(fromConfig == OpenBaoSettings(
            address: "https://bao.example.org:8200", addressSource: "openbao_addr", mount: "teams/billing", prefix: "chorus", namespace: nil))
        let fromEnv = try Settings(paths: paths, config: config, environment: [
            "VAULT_ADDR": "https://vault.example.org", "BAO_ADDR": "http://127.0.0.1:8200",
            "CPRO_OPENBAO_PREFIX": "/ci/cpro/", "VAULT_NAMESPACE": "acme",
        ]).openbao()
        #expect(fromEnv == OpenBaoSettings(
            address: "http://127.0.0.1:8200", addressSource: "BAO_ADDR", mount: "teams/billing", prefix: "ci/cpro", namespace: "acme"))
        let none = try Settings(paths: paths, config: try Config(), environment: [:]).openbao()
        #expect(none.address == nil && none.mount == "secret" && none.prefix == "cpro")
    }

    @Test(arguments: [
        ["BAO_ADDR": "http://bao.example.org:8200"],  // secrets in clear over the network
        ["BAO_ADDR": "ftp://bao"],
        ["CPRO_OPENBAO_MOUNT": "../sys"],
        ["CPRO_OPENBAO_PREFIX": "a b"],
        ["CPRO_OPENBAO_PREFIX": "a//b"],
        ["BAO_NAMESPACE": "x?y"],
    ])
    func badOpenbaoSettingsAreNamed(_ env: [String: String]) throws {
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        let s = Settings(paths: paths, config: try Config(), environment: env)
        let error = try #require(throws: Failure.self) { try s.openbao() }
        #expect(error.en.contains(env.keys.first!), "\(error.en)")
    }

    @Test(arguments: ["openbao_mount = \"/secret\"", "openbao_prefix = \"..\"", "openbao_addr = \"http://10.0.0.1\""])
    func badOpenbaoConfigIsRefused(_ line: String) {
        #expect(throws: Failure.self) { try Config(text: line) }
    }
}
