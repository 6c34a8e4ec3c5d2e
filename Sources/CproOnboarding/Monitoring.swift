import CproCore
import CproHTTP
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `cpro health --format nagios|prometheus`: the same reports in the shapes
/// monitoring systems read without glue. Pure functions of the reports: the
/// same reports give the same text, whatever ran the checks.
package enum Monitoring {
    /// The password thresholds shown in Nagios perfdata, in days.
    package struct Thresholds: Sendable {
        package var warningDays: Int
        package var criticalDays: Int?
        package init(warningDays: Int, criticalDays: Int?) {
            self.warningDays = warningDays
            self.criticalDays = criticalDays
        }
    }

    /// The Nagios plugin output: one line `STATUS - message | perfdata`, then
    /// with several checks one line per check (the plugin API's long text).
    /// Status words stay English: Nagios, Icinga and their add-ons parse them.
    package static func nagios(_ reports: [CheckReport], thresholds: Thresholds, now: Int64, lang: Language) -> String {
        let worst = reports.map(\.status).max() ?? .unknown
        let word = nagiosWord(worst)
        var perf: [String] = []
        for r in reports {
            let prefix = reports.count == 1 ? "" : "\(r.profile.value)/\(r.environment.rawValue) "
            perf.append(perfDatum(prefix + "time", fixed(Double(r.durationMs) / 1000, places: 3) + "s", min: "0"))
            if let expiry = r.passwordExpiresAt {
                let days = Int((Double(expiry - now) / 86_400).rounded(.down))
                perf.append(perfDatum(prefix + "tech_password_days", "\(days)", warn: "\(thresholds.warningDays):",
                                      crit: thresholds.criticalDays.map { "\($0):" } ?? ""))
            }
            if let s = r.structures { perf.append(perfDatum(prefix + "structures", "\(s.count)", min: "0")) }
        }
        func summary(_ r: CheckReport) -> String {
            pluginText("\(r.profile.value)/\(r.environment.rawValue): \(r.diagnosis.rawValue): \(r.message(lang))")
        }
        if reports.count == 1 {
            return "\(word) - \(summary(reports[0])) | \(perf.joined(separator: " "))\n"
        }
        let counts = [HealthStatus.ok, .warning, .critical, .unknown].compactMap { s -> String? in
            let n = reports.filter { $0.status == s }.count
            return n == 0 ? nil : "\(n) \(s.rawValue)"
        }
        let worstOnes = reports.filter { $0.status == worst && worst != .ok }
            .map { "\($0.profile.value)/\($0.environment.rawValue): \($0.diagnosis.rawValue)" }
        var head = lang.pick("\(reports.count) checks: ", "\(reports.count) vérifications : ") + counts.joined(separator: ", ")
        if !worstOnes.isEmpty { head += " (" + worstOnes.joined(separator: ", ") + ")" }
        var text = "\(word) - \(pluginText(head)) | \(perf.joined(separator: " "))\n"
        for r in reports { text += "\(nagiosWord(r.status)) \(summary(r))\n" }
        return text
    }

    /// The plugin line for a check that could not start.
    package static func nagiosUnknown(_ message: String) -> String {
        "UNKNOWN - " + pluginText(message) + "\n"
    }

    static func nagiosWord(_ s: HealthStatus) -> String {
        switch s { case .ok: "OK"; case .warning: "WARNING"; case .critical: "CRITICAL"; case .unknown: "UNKNOWN" }
    }

    /// One line, without the `|` that starts perfdata.
    static func pluginText(_ s: String) -> String {
        ServerText.oneLine(s, limit: 400).replacing("|", with: "/")
    }

    /// `'label'=value;warn;crit;min;max`, quotes doubled inside the label.
    static func perfDatum(_ label: String, _ value: String, warn: String = "", crit: String = "", min: String = "") -> String {
        let quoted = label.contains(where: { $0 == " " || $0 == "=" || $0 == "'" })
            ? "'" + label.replacing("'", with: "''") + "'" : label
        var fields = [value, warn, crit, min]
        while fields.count > 1 && fields.last == "" { fields.removeLast() }
        return quoted + "=" + fields.joined(separator: ";")
    }

    /// The Prometheus text exposition format (version 0.0.4), for
    /// node_exporter's textfile collector: each family once, its samples
    /// labelled by profile and environment; a family with no sample is left out.
    package static func prometheus(_ reports: [CheckReport], now: Int64) -> String {
        struct Family {
            let name, help: String
            var samples: [(labels: [(String, String)], value: String)] = []
        }
        var families: [Family] = [
            Family(name: "cpro_health_status", help: "Result of the last cpro health check: 0 ok, 1 warning, 2 critical, 3 unknown (its exit status)."),
            Family(name: "cpro_health_diagnosis", help: "The diagnosis of the last cpro health check (1 for the current one; see docs/troubleshooting.md)."),
            Family(name: "cpro_health_duration_seconds", help: "How long the last cpro health check took."),
            Family(name: "cpro_health_last_run_timestamp_seconds", help: "When the last cpro health check ran (Unix time)."),
            Family(name: "cpro_tech_password_expiry_timestamp_seconds", help: "When the Chorus Pro technical account's password must be changed (Unix time); source tells where the date comes from."),
            Family(name: "cpro_token_expiry_timestamp_seconds", help: "When the PISTE access token used by the check expires (Unix time)."),
            Family(name: "cpro_linked_structures", help: "Structures linked to the technical account (rattachements)."),
        ]
        func add(_ i: Int, _ r: CheckReport, _ value: String, _ extra: [(String, String)] = []) {
            families[i].samples.append(([("profile", r.profile.value), ("environment", r.environment.rawValue)] + extra, value))
        }
        for r in reports {
            add(0, r, "\(r.status.exitCode)")
            add(1, r, "1", [("diagnosis", r.diagnosis.rawValue)])
            add(2, r, fixed(Double(r.durationMs) / 1000, places: 3))
            add(3, r, "\(now)")
            if let p = r.passwordExpiresAt { add(4, r, "\(p)", [("source", r.passwordExpirySource ?? "estimated")]) }
            if let t = r.tokenExpiresAt { add(5, r, "\(t)") }
            if let s = r.structures { add(6, r, "\(s.count)") }
        }
        var text = ""
        for f in families where !f.samples.isEmpty {
            text += "# HELP \(f.name) \(f.help)\n# TYPE \(f.name) gauge\n"
            for s in f.samples {
                let labels = s.labels.map { "\($0.0)=\"\(labelValue($0.1))\"" }.joined(separator: ",")
                text += "\(f.name){\(labels)} \(s.value)\n"
            }
        }
        return text
    }

    /// Backslash, double quote and line feed escaped, as the format requires.
    static func labelValue(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
            .replacing("\n", with: "\\n")
    }
}
