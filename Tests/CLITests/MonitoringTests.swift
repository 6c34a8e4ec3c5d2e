import Foundation
import TestSupport
import Testing

/// `cpro health --format nagios|prometheus`, read by the real validators
/// where one exists (promtool, from Debian's prometheus package).
@Suite(.timeLimit(.minutes(10))) struct MonitoringTests {
    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// promtool's verdict on an exposition: status and what it printed.
    func promtoolCheck(_ text: String) async throws -> (Int32, String) {
        let tool = try #require(Self.promtool, "promtool is missing: scripts/deps installs Debian's prometheus package")
        let path = NSTemporaryDirectory() + "metrics-" + UUID().uuidString + ".prom"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try await spawnAndWait(["/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", tool, path], env: ["PATH": "/usr/bin:/bin"])
        return (r.status, r.output)
    }

    @Test func nagiosLineHasStatusMessageAndPerfdata() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--format", "nagios"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "one plugin line: \(r.stdout)")
        let line = String(lines[0])
        #expect(line.hasPrefix("OK - default/sandbox: ok: "), "\(line)")
        let perf = try #require(line.split(separator: "|").last).split(separator: " ").map(String.init)
        #expect(perf.contains { $0.range(of: #"^time=\d+\.\d{3}s;;;0$"#, options: .regularExpression) != nil }, "\(perf)")
        #expect(perf.contains("structures=3;;;0"), "\(perf)")
        // Stored just now: the 424-day rotation from today, warning below 30 days.
        #expect(perf.contains { $0.range(of: #"^tech_password_days=42[34];30:$"#, options: .regularExpression) != nil }, "\(perf)")
        #expect(line.filter { $0 == "|" }.count == 1, "the message itself holds no '|'")
    }

    /// The Monitoring Plugins' own parser (Monitoring::Plugin::Performance)
    /// reads each item, and its threshold logic agrees with cpro's status.
    func judgedByMonitoringPlugin(_ output: String) async throws -> [String: (value: String, uom: String, status: Int)] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("nagios-perfdata.pl").path
        let input = NSTemporaryDirectory() + "nagios-" + UUID().uuidString
        try output.write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let r = try await spawnAndWait(["/bin/sh", "-c", "exec /usr/bin/perl \"$0\" < \"$1\"", script, input], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 0, "Monitoring::Plugin: \(r.output)")
        var items: [String: (String, String, Int)] = [:]
        for line in r.output.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if f.count == 4 { items[f[0]] = (f[1], f[2], Int(f[3]) ?? -1) }
        }
        return items
    }

    @Test func nagiosOutputIsReadByTheMonitoringPluginsLibrary() async throws {
        let sim = try await SimProcess()
        let soon = Int64(Date().timeIntervalSince1970) + 10 * 86_400 + 3600
        try await sim.configure(["password_expiry": String(soon.rfc3339.prefix(10))])
        let cli = try await Cli.withSim(sim)
        let warning = try await judgedByMonitoringPlugin(try await cli.run(["health", "--format", "nagios"]).stdout)
        #expect(warning["time"]?.uom == "s" && warning["structures"]?.value == "3", "\(warning)")
        #expect(warning["tech_password_days"]?.status == 1, "10 days against 30: is WARNING for the library too: \(warning)")
        let critical = try await judgedByMonitoringPlugin(
            try await cli.run(["health", "--format", "nagios", "--warning-days", "60", "--critical-days", "14"]).stdout)
        #expect(critical["tech_password_days"]?.status == 2, "\(critical)")
        try await cli.storeSimCredentials(profile: "acme")
        let all = try await judgedByMonitoringPlugin(try await cli.run(["health", "--all", "--format", "nagios"]).stdout)
        #expect(all["acme/sandbox time"]?.uom == "s" && all["default/sandbox structures"]?.value == "3", "quoted labels: \(all)")
        // The judge refuses what a broken renderer would print.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("nagios-perfdata.pl").path
        let bad = try await spawnAndWait(["/bin/sh", "-c", "printf 'OK - fine | time=0.1s;;;0 structures=three;;;0\\n' | exec /usr/bin/perl \"$0\"", script], env: ["PATH": "/usr/bin:/bin"])
        #expect(bad.status != 0, "a value that is not a number: \(bad.output)")
    }

    @Test func nagiosThresholdsAndExitCodes() async throws {
        let sim = try await SimProcess()
        let soon = Int64(Date().timeIntervalSince1970) + 10 * 86_400 + 3600
        try await sim.configure(["password_expiry": String(soon.rfc3339.prefix(10))])
        let cli = try await Cli.withSim(sim)
        let warning = try await cli.run(["health", "--format", "nagios"])
        #expect(warning.status == 1 && warning.stdout.hasPrefix("WARNING - default/sandbox: password_expiring: "), "\(warning.stdout)")
        // A date without a time: midnight UTC, nine or ten whole days away.
        #expect(warning.stdout.range(of: #"tech_password_days=(9|10);30: "#, options: .regularExpression) != nil, "\(warning.stdout)")
        let critical = try await cli.run(["health", "--format", "nagios", "--warning-days", "60", "--critical-days", "14"])
        #expect(critical.status == 2 && critical.stdout.hasPrefix("CRITICAL - "), "\(critical.stdout)")
        #expect(critical.stdout.range(of: #"tech_password_days=(9|10);60:;14: "#, options: .regularExpression) != nil, "\(critical.stdout)")
        let relaxed = try await cli.run(["health", "--format", "nagios", "--warning-days", "5"])
        #expect(relaxed.status == 0 && relaxed.stdout.hasPrefix("OK - "), "\(relaxed.stdout)")
        let json = try await cli.run(["health", "--json", "--warning-days", "60", "--critical-days", "14"])
        #expect(json.status == 2 && json.stdout.contains(#""status":"critical""#), "thresholds hold in every format: \(json.stdout)")

        try await sim.configure(["api": ["utilisateurs": "tech_rejected"]])
        let refused = try await cli.run(["health", "--format", "nagios"])
        #expect(refused.status == 2 && refused.stdout.hasPrefix("CRITICAL - default/sandbox: tech_account_rejected: "), "\(refused.stdout)")
        let bad = try await cli.run(["health", "--format", "nagios", "--warning-days", "5", "--critical-days", "9"])
        #expect(bad.status == 64 && bad.stderr.contains("--critical-days"), "\(bad.stderr)")
    }

    @Test func aCheckThatCannotStartIsUnknownForMonitoring() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let locked = try await cli.run(["health", "--format", "nagios"], env: ["CPRO_VAULT_PASSPHRASE": "wrong passphrase"])
        #expect(locked.status == 3 && locked.stdout.hasPrefix("UNKNOWN - default/sandbox: vault_locked: "), "\(locked.stdout)")
        var empty = Cli()
        empty.env.merge(sim.env) { $1 }
        let nothing = try await empty.run(["health", "--all", "--format", "nagios"])
        #expect(nothing.status == 3 && nothing.stdout.hasPrefix("UNKNOWN - no credentials stored yet"), "\(nothing.stdout)\(nothing.stderr)")
        let badEnv = try await empty.run(["health", "--format", "nagios", "--env", "staging"])
        #expect(badEnv.status == 3 && badEnv.stdout.hasPrefix("UNKNOWN - "), "\(badEnv.stdout)")
        let plain = try await empty.run(["health", "--all"])
        #expect(plain.status == 1, "the text format keeps cpro's own exit status for errors")
    }

    @Test func nagiosAllSummarisesThenOneLinePerCheck() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await cli.storeSimCredentials(profile: "acme")
        try await cli.must(["creds", "remove", "--profile", "acme", "tech-password"])
        let r = try await cli.run(["health", "--all", "--format", "nagios"])
        #expect(r.status == 2, "\(r.stdout)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(r.stdout)")
        #expect(lines[0].hasPrefix("CRITICAL - 2 checks: 1 ok, 1 critical (acme/sandbox: credentials_missing) | "), "\(lines[0])")
        #expect(lines[0].contains("'default/sandbox time'=") && lines[0].contains("'acme/sandbox time'="), "\(lines[0])")
        #expect(lines[1].hasPrefix("CRITICAL acme/sandbox: credentials_missing: ") && lines[2].hasPrefix("OK default/sandbox: ok: "), "\(lines)")
    }

    @Test func prometheusPassesPromtoolAndCarriesEveryFigure() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await cli.storeSimCredentials(env: "production")
        let r = try await cli.run(["health", "--all", "--format", "prometheus"])
        #expect(r.status == 0, "\(r.stderr)")
        let (status, said) = try await promtoolCheck(r.stdout)
        #expect(status == 0 && said.isEmpty, "promtool: \(said)\n\(r.stdout)")
        for env in ["sandbox", "production"] {
            let labels = #"{profile="default",environment="\#(env)"}"#
            #expect(r.stdout.contains("cpro_health_status\(labels) 0\n"), "\(r.stdout)")
            #expect(r.stdout.contains("cpro_linked_structures\(labels) 3\n"))
            #expect(r.stdout.contains(#"cpro_health_diagnosis{profile="default",environment="\#(env)",diagnosis="ok"} 1"#))
            #expect(r.stdout.contains(#"cpro_tech_password_expiry_timestamp_seconds{profile="default",environment="\#(env)",source="estimated"} "#))
            for name in ["cpro_health_duration_seconds", "cpro_token_expiry_timestamp_seconds", "cpro_health_last_run_timestamp_seconds"] {
                #expect(r.stdout.contains(name + labels + " "), "\(name)")
            }
        }
        #expect(r.stdout.components(separatedBy: "# TYPE cpro_health_status gauge").count == 2, "each family once")
        // The token expiry is the cached token's, an hour ahead.
        let expiry = r.stdout.split(separator: "\n").first { $0.hasPrefix("cpro_token_expiry_timestamp_seconds{profile=\"default\",environment=\"sandbox\"}") }
            .flatMap { Int64($0.split(separator: " ").last ?? "") } ?? 0
        #expect(abs(expiry - Int64(Date().timeIntervalSince1970) - 3600) < 600, "\(expiry)")

        // promtool is a real judge: it refuses what a broken renderer would write.
        let (broken, _) = try await promtoolCheck(r.stdout.replacingOccurrences(of: "# TYPE cpro_health_status gauge\n", with: "# TYPE cpro_health_status gauge\n# TYPE cpro_health_status gauge\n"))
        #expect(broken != 0)
    }

    @Test func prometheusFailureIsStillAnExposition() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api": ["structures": "forbidden_403"]])
        let r = try await cli.run(["health", "--format", "prometheus"])
        #expect(r.status == 2)
        #expect(r.stdout.contains(#"cpro_health_status{profile="default",environment="sandbox"} 2"#), "\(r.stdout)")
        #expect(r.stdout.contains(#"diagnosis="api_access_denied"} 1"#), "\(r.stdout)")
        let (status, said) = try await promtoolCheck(r.stdout)
        #expect(status == 0, "\(said)")
    }

    @Test func outputFileIsReplacedAtomicallyAndReadableByTheCollector() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let dir = cli.home + "/textfile"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = dir + "/cpro.prom"
        try "old content\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try await cli.run(["health", "--format", "prometheus", "--output", file])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written.hasPrefix("# HELP cpro_health_status "), "\(written)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o644, "node_exporter runs as another user: \(String(mode ?? 0, radix: 8))")
        let listed = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(listed == ["cpro.prom"], "no temporary file left")
        #expect(!written.contains(Cli.simTechPassword) && !written.contains(Cli.simClientSecret))

        let nagiosFile = dir + "/nagios.txt"
        let n = try await cli.run(["health", "--format", "nagios", "--output", nagiosFile])
        let nagiosText = try String(contentsOfFile: nagiosFile, encoding: .utf8)
        #expect(n.status == 0 && nagiosText.hasPrefix("OK - "), "\(nagiosText)")

        let jsonFile = dir + "/health.json"
        let j = try await cli.run(["health", "--format", "json", "--output", jsonFile])
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonFile))) as? [String: Any]
        #expect(j.status == 0 && j.stdout.isEmpty && object?["diagnosis"] as? String == "ok", "\(j.stdout)\(j.stderr)")

        let text = try await cli.run(["health", "--output", dir + "/x"])
        #expect(text.status == 1 && text.stderr.contains("--output needs --format"), "\(text.stderr)")
        let missing = try await cli.run(["health", "--format", "prometheus", "--output", cli.home + "/no/such/dir/cpro.prom"])
        #expect(missing.status == 1 && missing.stderr.contains("cannot write"), "\(missing.stderr)")
        let after = try String(contentsOfFile: file, encoding: .utf8)
        #expect(after == written, "a failed write elsewhere left the file alone")
    }

    @Test func exampleAlertRulesPassPromtoolAndUseTheMetricsWritten() async throws {
        let tool = try #require(Self.promtool, "promtool is missing: scripts/deps installs Debian's prometheus package")
        let rules = VersionTests.root + "/contrib/prometheus/cpro-alerts.yml"
        let r = try await spawnAndWait([tool, "check", "rules", rules], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 0 && r.output.contains("SUCCESS: 4 rules found"), "\(r.output)")
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        for name in ["cpro_health_status", "cpro_tech_password_expiry_timestamp_seconds", "cpro_health_last_run_timestamp_seconds"] {
            #expect(text.contains(name), "\(name)")
        }
        let broken = NSTemporaryDirectory() + "rules-" + UUID().uuidString + ".yml"
        try text.replacingOccurrences(of: "expr: cpro_health_status >= 2", with: "expr: cpro_health_status >= ").write(toFile: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let refused = try await spawnAndWait([tool, "check", "rules", broken], env: ["PATH": "/usr/bin:/bin"])
        #expect(refused.status != 0, "promtool judges the rules: \(refused.output)")
    }
}
