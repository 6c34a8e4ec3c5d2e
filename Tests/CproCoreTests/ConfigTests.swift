import Foundation
import Testing
@testable import CproCore

@Suite(.timeLimit(.minutes(10))) struct ConfigTests {
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

    /// Found by the config fuzz target: "\r\n" is one Swift Character, so a
    /// file with CRLF line ends (a Windows editor's) was read as one line and
    /// refused with "unexpected text after the value".
    @Test func crlfLineEndsReadAsLines() throws {
        let c = try Config(text: "backend = \"file\"\r\n[profiles.default.sandbox]\r\nsiret = \"73282932000074\"\r\n")
        #expect(c.backend == "file")
        #expect(c.environmentValue(.default, .sandbox, "siret") == .string("73282932000074"))
        #expect(!c.text.contains("\r"), "written back with LF")
        let lone = try Config(text: "\r")
        #expect(try Config(text: lone.text).values == lone.values)
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

@Suite(.timeLimit(.minutes(10))) struct SettingsTests {
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

/// Every place a URL enters cpro refuses the same hostile shapes: plain http
/// that only looks like loopback, user-info that moves the real host, and
/// paths that would send the calls somewhere PISTE has no API.
@Suite(.timeLimit(.minutes(10))) struct HostileURLTests {
    static let hostile = [
        "http://127.0.0.1@evil.example", "http://localhost:1@evil.example", "http://[::1]@evil.example",
        "http://127.evil.example", "http://127.0.0.1.evil.example", "http://localhost.evil.example",
        "http://evil.example#@127.0.0.1", "http://evil.example?@127.0.0.1", "http://127.0.0.1\\@evil.example",
        "http://user:pw@127.0.0.1:8080", "https://user@api.piste.gouv.fr", "http://1270.0.0.1", "http://127.0.0.256",
        "http://0x7f.0.0.1", "http://[::2]", "ftp://127.0.0.1", "http:/127.0.0.1", "http://", "https://:443",
        "http://127.0.0.1:0", "http://127.0.0.1:99999", "http://127.0.0.1:80x", "https://api.piste.gouv.fr /cpro",
        "http://10.0.0.1", "http://192.168.1.1:8080",
    ]

    @Test(arguments: hostile) func refusedEverywhere(_ url: String) throws {
        #expect(throws: Failure.self) { try WebURL.parse(url, name: "X") }
        #expect(throws: Failure.self) { try Endpoints.oauthBase(url, name: "X") }
        #expect(throws: Failure.self) { try Endpoints.apiBase(url, name: "X") }
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        for variable in ["PISTE_OAUTH_URL", "CPRO_API_URL"] {
            let s = Settings(paths: paths, config: try Config(), environment: [variable: url])
            #expect(throws: Failure.self) { try s.endpoints(.default, .sandbox) }
        }
        for variable in ["BAO_ADDR", "VAULT_ADDR"] {
            let s = Settings(paths: paths, config: try Config(), environment: [variable: url])
            #expect(throws: Failure.self) { try s.openbao() }
        }
        for key in ["oauth_url", "api_url"] {
            #expect(throws: Failure.self) { try Config(text: "[profiles.default.sandbox]\n\(key) = \(TOMLText.quote(url))\n") }
        }
        #expect(throws: Failure.self) { try Config(text: "openbao_addr = \(TOMLText.quote(url))\n") }
    }

    @Test func loopbackIsTheParsedHost() throws {
        for ok in ["http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost", "http://LOCALHOST:9", "http://[::1]:8200"] {
            #expect(WebURL.isLoopback(try WebURL.parse(ok, name: "X").host), "\(ok)")
        }
        #expect(try WebURL.parse("http://[::1]:8200/x/", name: "X").origin == "http://[::1]:8200")
        #expect(try WebURL.parse("http://[::1]:8200/x/", name: "X").path == "/x")
    }

    /// The forms people copy from the well-known integrations.
    @Test func endpointShapes() throws {
        #expect(try Endpoints.oauthBase("https://oauth.piste.gouv.fr", name: "X") == "https://oauth.piste.gouv.fr")
        #expect(try Endpoints.oauthBase("https://oauth.piste.gouv.fr/", name: "X") == "https://oauth.piste.gouv.fr")
        #expect(try Endpoints.oauthBase("https://sandbox-oauth.piste.gouv.fr/api/oauth/token", name: "X") == "https://sandbox-oauth.piste.gouv.fr")
        #expect(try Endpoints.apiBase("https://api.piste.gouv.fr", name: "X") == "https://api.piste.gouv.fr/cpro")
        #expect(try Endpoints.apiBase("https://api.piste.gouv.fr/cpro/", name: "X") == "https://api.piste.gouv.fr/cpro")
        #expect(try Endpoints.apiBase("http://127.0.0.1:8080", name: "X") == "http://127.0.0.1:8080/cpro")
        for bad in ["https://api.piste.gouv.fr/cpro/factures", "https://api.piste.gouv.fr/api", "https://api.piste.gouv.fr/CPRO2"] {
            let e = #expect(throws: Failure.self) { try Endpoints.apiBase(bad, name: "CPRO_API_URL") }
            #expect(e?.en.contains("https://api.piste.gouv.fr/cpro") == true)
        }
        for bad in ["https://oauth.piste.gouv.fr/api", "https://oauth.piste.gouv.fr/api/oauth/token/x"] {
            #expect(throws: Failure.self) { try Endpoints.oauthBase(bad, name: "PISTE_OAUTH_URL") }
        }
        let paths = Paths(configDirectory: "/x", dataDirectory: "/x", cacheDirectory: "/x")
        let config = try Config(text: "[profiles.default.sandbox]\napi_url = \"https://proxy.example\"\noauth_url = \"https://proxy.example/api/oauth/token\"\n")
        let e = try Settings(paths: paths, config: config, environment: [:]).endpoints(.default, .sandbox)
        #expect(e == Endpoints(oauthURL: "https://proxy.example", apiURL: "https://proxy.example/cpro"))
        #expect(e.tokenURL == "https://proxy.example/api/oauth/token")
    }

    @Test func environmentAliases() throws {
        #expect(try PisteEnvironment.parse("qualif") == .sandbox)
        #expect(try PisteEnvironment.parse("Qualification") == .sandbox)
        #expect(try PisteEnvironment.parse("prod") == .production)
        #expect(throws: Failure.self) { try PisteEnvironment.parse("preprod") }
        #expect(throws: Failure.self) { try Config(text: "[profiles.default.prod]\napi_url = \"https://x.example\"\n") }
    }
}
