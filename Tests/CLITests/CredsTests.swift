import Foundation
import Testing

@Suite(.timeLimit(.minutes(10))) struct CredsCommandTests {
    static let awkwardValues: [String] = [
        "with spaces inside",
        "double \"quotes\" and 'single'",
        "dollar $HOME $(id) `id` ${X}",
        "hash # not a comment",
        "back\\slash\\\\ and \\n literally",
        "non-ASCII: é à ü ß 東京 🙂",
        String(repeating: "0123456789abcdef", count: 256),  // 4 KiB
        "=leading equals; semicolon; & ampersand | pipe > gt < lt",
    ]

    /// The refusal is read, not only its status: a secret option is named
    /// and the two safe ways are given, in both languages, before parsing
    /// (an unknown option would also exit 64, but with the parser's words).
    @Test(arguments: ["--client-secret=x", "--tech-password", "--PASSPHRASE=y", "--access_token=z", "--cpro-account"])
    func aSecretOptionIsRefusedWithTheSafeWays(_ option: String) async throws {
        let cli = Cli()
        let r = try await cli.run(["creds", "set", option, "client-id"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("cpro takes no secret or credential as an option"), "\(r.stderr)")
        #expect(r.stderr.contains("cpro creds set --stdin FIELD"), "\(r.stderr)")
        #expect(!r.stderr.contains("=x") && !r.stderr.contains("=y") && !r.stderr.contains("=z"))
        let fr = try await cli.run(["creds", "set", option, "client-id"], env: ["LANG": "fr_FR.UTF-8"])
        #expect(fr.status == 64 && fr.stderr.contains("cpro ne prend ni secret ni identifiant en option"), "\(fr.stderr)")
        let after = try await cli.run(["exec", "--", "/bin/echo", option])
        #expect(!after.stderr.contains("takes no secret"), "after -- it belongs to the program")
    }

    @Test func stdinRoundTripsAwkwardValues() async throws {
        let cli = Cli()
        for (i, value) in Self.awkwardValues.enumerated() {
            let field = ["client-secret", "tech-password"][i % 2]
            let set = try await cli.run(["creds", "set", "--stdin", field], stdin: Array((value + "\n").utf8))
            #expect(set.status == 0, "\(set.stderr)")
            let get = try await cli.run(["creds", "get", field])
            #expect(get.status == 0)
            #expect(get.stdout == value + "\n", "value \(i)")
        }
        // Without a trailing newline the value is taken as it is.
        try await cli.must(["creds", "set", "--stdin", "client-id"], stdin: Array("abc".utf8))
        #expect(try await cli.run(["creds", "get", "client-id"]).stdout == "abc\n")
    }

    @Test func cproAccountIsDerived() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "tech-login"], stdin: Array("TECH_1_X@cpro.fr\n".utf8))
        try await cli.must(["creds", "set", "--stdin", "tech-password"], stdin: Array("pässwörd\n".utf8))
        let r = try await cli.run(["creds", "get", "cpro-account"])
        #expect(r.stdout == Data("TECH_1_X@cpro.fr:pässwörd".utf8).base64EncodedString() + "\n")
        let bad = try await cli.run(["creds", "set", "--stdin", "cpro-account"], stdin: Array("x".utf8))
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("derived"))
    }

    @Test func globalOptionsGoBeforeOrAfter() async throws {
        let cli = Cli()
        try await cli.must(["--env", "production", "--profile", "acme", "creds", "set", "--stdin", "client-id"], stdin: Array("p-id".utf8))
        try await cli.must(["creds", "--profile", "acme", "set", "client-id", "--stdin"], stdin: Array("s-id".utf8))
        #expect(try await cli.run(["creds", "get", "client-id", "--env", "production", "--profile", "acme"]).stdout == "p-id\n")
        #expect(try await cli.run(["--profile", "acme", "creds", "get", "client-id"]).stdout == "s-id\n")
        #expect(try await cli.run(["creds", "get", "client-id"], env: ["CPRO_PROFILE": "acme", "CPRO_ENV": "production"]).stdout == "p-id\n")
        let missing = try await cli.run(["creds", "get", "client-id"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("client-id is not set for default / sandbox"))
    }

    @Test func listShowsWhatIsSetAndNeverAValue() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "client-secret", "--env", "production"], stdin: Array("zz-secret-zz".utf8))
        try await cli.must(["creds", "set", "--stdin", "tech-login", "--profile", "b"], stdin: Array("TECH_1@cpro.fr".utf8))
        let human = try await cli.run(["creds", "list"])
        #expect(human.status == 0)
        #expect(human.stdout.contains("default  production"))
        #expect(human.stdout.contains("b        sandbox"))
        #expect(!human.all.contains("zz-secret-zz") && !human.all.contains("TECH_1@cpro.fr"))
        let json = try await cli.run(["creds", "list", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let entries = try #require(object["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        let fields = try #require(entries.first { $0["profile"] as? String == "default" }?["fields"] as? [String: [String: Any]])
        #expect(fields["client-secret"]?["set"] as? Bool == true)
        #expect(fields["client-id"]?["set"] as? Bool == false)
        #expect((fields["client-secret"]?["set_at"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func removeRemovesOnlyTheSelection() async throws {
        let cli = Cli()
        for f in ["client-id", "client-secret"] {
            try await cli.must(["creds", "set", "--stdin", f], stdin: Array("v-\(f)".utf8))
            try await cli.must(["creds", "set", "--stdin", f, "--env", "production"], stdin: Array("p-\(f)".utf8))
        }
        let r = try await cli.run(["creds", "remove", "client-id", "--json"])
        #expect(r.stdout.contains("\"removed\":[\"client-id\"]"))
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 1)
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "v-client-secret\n")
        try await cli.must(["creds", "remove"])
        #expect(try await cli.run(["creds", "get", "client-secret"]).status == 1)
        #expect(try await cli.run(["creds", "get", "client-id", "--env", "production"]).stdout == "p-client-id\n")
        let none = try await cli.run(["creds", "remove", "tech-login"])
        #expect(none.status == 0 && none.stderr.contains("Nothing to remove"))
    }

    @Test func badValuesAreRefusedWithTheFieldNamed() async throws {
        let cli = Cli()
        for (value, fragment) in [("", "empty"), ("two\nlines", "control character"), ("tab\tbed", "control character")] {
            let r = try await cli.run(["creds", "set", "--stdin", "client-secret"], stdin: Array((value + "\n").utf8))
            #expect(r.status == 1)
            #expect(r.stderr.contains("client-secret") && r.stderr.contains(fragment), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.vaultPath), "nothing written for refused values")
        let warn = try await cli.run(["creds", "set", "--stdin", "tech-login"], stdin: Array("jean@example.fr".utf8))
        #expect(warn.status == 0 && warn.stderr.contains("TECH_"))
        let twoFields = try await cli.run(["creds", "set", "--stdin", "client-id", "client-secret"], stdin: Array("x".utf8))
        #expect(twoFields.status == 1 && twoFields.stderr.contains("exactly one field"))
    }

    @Test func helpAndCompletionScriptsAreNotRedacted() async throws {
        let cli = Cli()
        let bash = try await cli.run(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        #expect(bash.stdout.hasPrefix("#!/bin/bash"), "\(bash.stdout.prefix(40))")
        let help = try await cli.run(["creds", "set", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--stdin"))
    }

    @Test func frenchMessagesFromLang() async throws {
        let cli = Cli()
        let r = try await cli.run(["creds", "get", "client-id"], env: ["LANG": "fr_FR.UTF-8"])
        #expect(r.stderr.contains("n'est pas enregistré"))
        let forced = try await cli.run(["creds", "get", "client-id", "--lang", "en"], env: ["LANG": "fr_FR.UTF-8"])
        #expect(forced.stderr.contains("is not set"))
    }

    @Test func importStoresAnExportAndChecksFirst() async throws {
        let cli = Cli()
        let export: [String: String] = [
            "PISTE_CLIENT_ID": "d3b0a3c2-1111-2222-3333-444455556666", "PISTE_CLIENT_SECRET": "s3cr3t \"$x\"",
            "CPRO_TECH_LOGIN": "TECH_1_Y@cpro.fr", "CPRO_TECH_PASSWORD": "pw é",
            "CPRO_ACCOUNT": Data("TECH_1_Y@cpro.fr:pw é".utf8).base64EncodedString(),
            "PISTE_OAUTH_URL": "http://127.0.0.1:9999", "CPRO_API_URL": "https://sandbox-api.piste.gouv.fr/cpro",
            "PISTE_ACCESS_TOKEN": "tok", "PISTE_TOKEN_EXPIRES_AT": "2026-01-01T00:00:00Z",
        ]
        let json = try JSONSerialization.data(withJSONObject: export)
        let r = try await cli.run(["creds", "import"], stdin: Array(json))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "s3cr3t \"$x\"\n")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == "pw é\n")
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/config.toml"), "endpoints are not taken by default")
        #expect(r.stderr.contains("--with-endpoints"))
        #expect(try await cli.run(["creds", "import", "--with-endpoints"], stdin: Array(json)).status == 0)
        let config = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(config.contains("oauth_url = \"http://127.0.0.1:9999\""))
        #expect(!config.contains("api_url"), "the default API URL is not recorded")

        // Only CPRO_ACCOUNT: split into login and password.
        let onlyAccount = try JSONSerialization.data(withJSONObject: ["CPRO_ACCOUNT": Data("TECH_2@cpro.fr:p:w".utf8).base64EncodedString()])
        #expect(try await cli.run(["creds", "import", "--profile", "two"], stdin: Array(onlyAccount)).status == 0)
        #expect(try await cli.run(["creds", "get", "tech-password", "--profile", "two"]).stdout == "p:w\n")

        let before = try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath))
        for (bad, fragment) in [
            ("[1,2]", "JSON object"), ("{\"PISTE_CLIENT_ID\": 5}", "PISTE_CLIENT_ID must be a string"),
            ("{\"OTHER\": \"x\"}", "unknown key OTHER"), ("{\"PISTE_CLIENT_SECRET\": \"a\\nb\"}", "control character"),
            ("{\"CPRO_TECH_LOGIN\": \"a\", \"CPRO_TECH_PASSWORD\": \"b\", \"CPRO_ACCOUNT\": \"eDp5\"}", "does not match"),
            ("not json", "JSON object"), ("{}", "no credential"),
        ] {
            let r = try await cli.run(["creds", "import"], stdin: Array(bad.utf8))
            #expect(r.status == 1, "\(bad)")
            #expect(r.stderr.contains(fragment), "\(bad): \(r.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath)) == before, "refused imports change nothing")
    }

    /// A crafted file cannot redirect the secrets of later commands.
    @Test func importedEndpointsElsewhereNeedAPerson() async throws {
        let cli = Cli()
        let json = try JSONSerialization.data(withJSONObject: ["PISTE_CLIENT_ID": "id-1", "PISTE_OAUTH_URL": "https://collector.example"])
        let quiet = try await cli.run(["creds", "import"], stdin: Array(json))
        #expect(quiet.status == 0)
        #expect(try await cli.run(["config", "get", "oauth_url"]).status == 1, "ignored without --with-endpoints")
        let forced = try await cli.run(["creds", "import", "--with-endpoints", "--profile", "two"], stdin: Array(json))
        #expect(forced.status == 1 && forced.stderr.contains("collector.example"), "\(forced.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "two"]).status == 1, "nothing stored")
        let piste = try JSONSerialization.data(withJSONObject: ["PISTE_CLIENT_ID": "id-1", "CPRO_API_URL": "https://api.piste.gouv.fr"])
        #expect(try await cli.run(["creds", "import", "--with-endpoints", "--env", "production"], stdin: Array(piste)).status == 0)
    }
}
