import ArgumentParser
import CproCore
import CproHTTP
import CproOnboarding
import CproPiste
import CproVault
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs the checks for one selection, on credentials already read.
func runCheck(_ ctx: Context, _ store: CredentialStore, _ selection: Selection, onboarding: Bool,
              warningDays: Int? = nil, criticalDays: Int? = nil) async -> CheckReport {
    let (profile, env) = (selection.profile, selection.environment)
    let scoped = ctx.with(profile: profile, environment: env)
    var options = Checker.Options()
    let config = ctx.settings.config
    if case .integer(let days)? = config.environmentValue(profile, env, "tech_password_rotation_days") {
        options.rotationDays = days
    }
    if case .string(let siret)? = config.environmentValue(profile, env, "siret") { options.siret = siret }
    if let warningDays { options.warnDaysBefore = warningDays }
    options.criticalDaysBefore = criticalDays
    if case .string(let date)? = config.environmentValue(profile, env, "tech_password_changed_at") {
        options.passwordChangedAt = DateText.parse(date)
    }
    let endpoints: Endpoints
    do {
        endpoints = try ctx.settings.endpoints(profile, env)
    } catch {
        // A URL cpro refuses to use is the configuration's fault (CRITICAL), not an unreadable answer.
        return .failure(profile, env, (error as? CproError) ?? Failure("\(error)", fr: "\(error)"), default: .wrongEndpoint)
    }
    // The checker reports a retired host in its own warnings.
    let checker = Checker(
        store: store, profile: profile, environment: env, endpoints: endpoints, transport: ctx.transport,
        tokens: scoped.tokenProvider(store, endpoints: endpoints), options: options, logger: ctx.logger)
    return await checker.run()
}

/// Prints a report for people, on stdout (data) and the fix on stderr.
func printHuman(_ r: CheckReport, _ ctx: Context, steps: Bool) {
    let label = r.status.rawValue.uppercased()
    let selection = Selection(r.profile, r.environment)
    // "OK default / sandbox: ok: …" said ok twice; a code is worth showing only when something is wrong.
    let code = r.diagnosis == .ok ? "" : "\(r.diagnosis.rawValue): "
    ctx.output.data("\(label) \(selection): \(code)\(r.message(ctx.lang)) (\(r.durationMs) ms)\n")
    if let e = try? ctx.settings.endpoints(r.profile, r.environment), !e.arePISTEDefaults(r.environment) {
        ctx.output.data("  " + ctx.lang.pick("endpoints: ", "points d'accès : ") + e.tokenEndpointNote(ctx.lang) + ctx.lang.pick("; ", " ; ") + e.apiEndpointNote(ctx.lang) + "\n")
    }
    if steps {
        for s in r.steps {
            let marks = Marks(ctx.environment)
            let mark = switch s.status { case .ok: marks.ok; case .failed: marks.failed; case .skipped: "-"; case .manual: "?" }
            ctx.output.data("  \(mark) \(s.id.rawValue.padded(to: 18)) \(s.id.title(ctx.lang))\n")
            if !s.hint.isEmpty && s.status != .ok { ctx.output.data("      \(s.hint(ctx.lang))\n") }
        }
    } else if let step = r.stepToFix {
        ctx.output.data("  " + ctx.lang.pick("fix (\(step.rawValue)): ", "à corriger (\(step.rawValue)) : ") + Advice.fix(r.diagnosis, selection, ctx.lang) + "\n")
    }
    if steps, r.failedStep == nil, let step = r.stepToFix {
        ctx.output.data("  " + ctx.lang.pick("fix (\(step.rawValue)): ", "à corriger (\(step.rawValue)) : ") + Advice.fix(r.diagnosis, selection, ctx.lang) + "\n")
    }
    for s in r.structures ?? [] {
        ctx.output.data("  \(ServerText.oneLine(s.identifiantStructure, limit: 40))  \(ServerText.oneLine(s.designationStructure))\n")
    }
    for w in r.warnings where w != r.message {
        ctx.output.warn(Failure(w.en, fr: w.fr))
    }
    for n in r.notes { ctx.output.say("note: " + n.en, "note : " + n.fr) }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "The setup's health test: a token, then the linked structures with both authentications.",
        discussion: """
            Exit status as monitoring plugins expect: 0 OK, 1 WARNING (technical password close to its \
            rotation, a retired host), 2 CRITICAL (the setup is wrong or PISTE cannot be reached), \
            3 UNKNOWN (the vault cannot be opened, an unreadable answer). --all checks every stored \
            profile and environment concurrently. See docs/troubleshooting.md for each diagnosis.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Check every profile and environment that has credentials, concurrently.")
    var all = false

    @Option(help: "Output: text, json (as --json), nagios (the plugin line with perfdata) or prometheus (text exposition for node_exporter's textfile collector).")
    var format: HealthFormat = .text

    @Option(help: ArgumentHelp("Write the output to this file (atomically, mode 0644) instead of stdout.", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("WARNING when the technical password expires in fewer days than this.", valueName: "days"))
    var warningDays: Int = 30

    @Option(help: ArgumentHelp("CRITICAL when the technical password expires in fewer days than this (default: never on the date alone).", valueName: "days"))
    var criticalDays: Int?

    func validate() throws {
        guard (0...3650).contains(warningDays) else { throw ValidationError("--warning-days takes a number of days from 0 to 3650") }
        if let c = criticalDays {
            guard (0...3650).contains(c) else { throw ValidationError("--critical-days takes a number of days from 0 to 3650") }
            guard c <= warningDays else { throw ValidationError("--critical-days (\(c)) must not exceed --warning-days (\(warningDays))") }
        }
        if let o = output, o.isEmpty || o.hasSuffix("/") { throw ValidationError("--output takes a file path") }
    }

    func run() async throws {
        var options = globals
        if format == .json { options.json = true }
        let ctx: Context
        do {
            ctx = try Context(options)
        } catch {
            try failBeforeAnyCheck(error, lang: Language.from(environment: ProcessInfo.processInfo.environment))
            return
        }
        let reports: [CheckReport]
        do {
            reports = try await check(ctx)
        } catch {
            try failBeforeAnyCheck(error, lang: ctx.lang)
            return
        }
        try finish(reports, ctx)
    }

    /// A monitoring system reads an exit status of 1 as WARNING: a check that
    /// could not even start is UNKNOWN (3) in the monitoring formats.
    func failBeforeAnyCheck(_ error: Error, lang: Language) throws {
        guard format == .nagios || format == .prometheus else { throw error }
        let message = (error as? CproError)?.message(lang) ?? "\(error)"
        if format == .nagios {
            try emit(Monitoring.nagiosUnknown(message), lang: lang)
        } else {
            // No exposition: a file left as it was ages, and the staleness
            // alert (docs/monitoring.md) says so.
            Output.write(2, Array(("cpro: " + message + "\n").utf8))
        }
        throw ExitCode(HealthStatus.unknown.exitCode)
    }

    func check(_ ctx: Context) async throws -> [CheckReport] {
        let store = try ctx.store()
        var targets = [ctx.selection]
        if all {
            let listed: [CredentialKey: Int64?]
            do {
                listed = try await store.list()
            } catch {
                return [CheckReport.failure(ctx.profile, ctx.pisteEnvironment, (error as? CproError) ?? Failure("\(error)", fr: "\(error)"), default: .vaultLocked)]
            }
            targets = Set(listed.keys.map(\.selection)).sorted()
            guard !targets.isEmpty else {
                throw Failure("no credentials stored yet: nothing to check", fr: "aucun identifiant enregistré : rien à vérifier")
            }
        }
        // Read every selection first (one vault unlock), then check them all at once.
        let stamp = store.changeStamp()
        var snapshots: [(Selection, CredentialStore)] = []
        for selection in targets {
            let (p, e) = (selection.profile, selection.environment)
            do {
                let creds = try await store.read(p, e)
                snapshots.append((selection, SnapshotStore.of(creds, p, e, kind: store.kind, stamp: stamp)))
            } catch {
                snapshots.append((selection, FailingStore(kind: store.kind, error: error)))
            }
        }
        let thresholds = (warningDays, criticalDays)
        return await withTaskGroup(of: (Int, CheckReport).self) { group in
            for (i, (selection, s)) in snapshots.enumerated() {
                group.addTask { (i, await runCheck(ctx, s, selection, onboarding: false, warningDays: thresholds.0, criticalDays: thresholds.1)) }
            }
            var out: [(Int, CheckReport)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func finish(_ reports: [CheckReport], _ ctx: Context) throws {
        let worst = reports.map(\.status).max() ?? .unknown
        switch format {
        case .nagios:
            try emit(Monitoring.nagios(reports, thresholds: .init(warningDays: warningDays, criticalDays: criticalDays), now: ctx.now, lang: ctx.lang), lang: ctx.lang)
        case .prometheus:
            try emit(Monitoring.prometheus(reports, now: ctx.now), lang: ctx.lang)
        case .json, .text:
            if ctx.output.json {
                let bytes = all
                    ? Output.encoded(AllChecksJSON(status: worst.rawValue, checks: reports.map { $0.healthJSON(ctx.lang) }))
                    : Output.encoded(reports[0].healthJSON(ctx.lang))
                try emit(String(decoding: bytes, as: UTF8.self) + "\n", lang: ctx.lang)
            } else if output != nil {
                throw Failure("--output needs --format json, nagios or prometheus", fr: "--output demande --format json, nagios ou prometheus")
            } else {
                for r in reports { printHuman(r, ctx, steps: false) }
            }
        }
        if worst != .ok { throw ExitCode(worst.exitCode) }
    }

    /// stdout, or the --output file replaced atomically: a collector reading
    /// it never sees half a file. 0644: node_exporter runs as another user,
    /// and these figures hold no secret.
    func emit(_ text: String, lang: Language) throws {
        guard let output else { return Output.write(1, Array(text.utf8)) }
        // The rename would replace whatever is there: a FIFO, a device (as
        // root, `--output /dev/null` replaced the system's node), a link.
        var st = stat()
        if lstat(output, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
            throw Failure(
                "--output \(output) exists and is not a regular file (a device, a FIFO, a folder or a link); cpro replaces only regular files: name a file, or leave --output out to write to stdout",
                fr: "--output \(output) existe et n'est pas un fichier ordinaire (un périphérique, un tube, un dossier ou un lien) ; cpro ne remplace que des fichiers ordinaires : nommez un fichier, ou omettez --output pour écrire sur la sortie standard")
        }
        do {
            // No lock guards this file: only a dead writer's leftovers are removed.
            SecureFiles.removeStaleTemporaries(of: output, onlyDeadOwners: true)
            try SecureFiles.atomicWrite(output, bytes: Array(text.utf8), mode: 0o644)
        } catch {
            throw Failure(
                "cannot write \(output): \((error as? CproError)?.message(.en) ?? "\(error)")",
                fr: "impossible d'écrire \(output) : \((error as? CproError)?.message(.fr) ?? "\(error)")")
        }
    }
}

/// `cpro health --all --json`: the worst status and every check.
struct AllChecksJSON: Encodable {
    let status: String
    let checks: [ReportJSON]
}

enum HealthFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json, nagios, prometheus
}
