import ArgumentParser
import CproCore
import CproHTTP
import CproOnboarding
import CproPiste
import CproVault
import Foundation

/// Runs the checks for one selection, on credentials already read.
func runCheck(_ ctx: Context, _ store: CredentialStore, _ profile: ProfileName, _ env: PisteEnvironment, onboarding: Bool) async -> CheckReport {
    let scoped = ctx.with(profile: profile, environment: env)
    var options = Checker.Options()
    let config = ctx.settings.config
    if case .integer(let days)? = config.environmentValue(profile, env, "tech_password_rotation_days") {
        options.rotationDays = days
    }
    if case .string(let siret)? = config.environmentValue(profile, env, "siret") { options.siret = siret }
    if case .string(let date)? = config.environmentValue(profile, env, "tech_password_changed_at") {
        options.passwordChangedAt = DateText.parse(date)
    }
    do {
        // The checker reports a retired host in its own warnings.
        let endpoints = try ctx.settings.endpoints(profile, env)
        let checker = Checker(
            store: store, profile: profile, environment: env, endpoints: endpoints, transport: ctx.transport,
            tokens: scoped.tokenProvider(store, endpoints: endpoints), lang: ctx.lang, options: options, logger: ctx.logger)
        return await checker.run()
    } catch {
        let message = (error as? CproError)?.message(ctx.lang) ?? "\(error)"
        return .failure(profile, env, (error as? DiagnosedError)?.diagnosis ?? .unexpectedResponse, message, lang: ctx.lang)
    }
}

/// Prints a report for people, on stdout (data) and the fix on stderr.
func printHuman(_ r: CheckReport, _ ctx: Context, steps: Bool) {
    let label = r.status.rawValue.uppercased()
    ctx.output.data("\(label) \(r.profile) / \(r.environment.rawValue): \(r.diagnosis.rawValue): \(r.message) (\(r.durationMs) ms)\n")
    if steps {
        for s in r.steps {
            let mark = switch s.status { case .ok: "✓"; case .failed: "✗"; case .skipped: "·"; case .manual: "?" }
            ctx.output.data("  \(mark) \(s.id.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) \(s.id.title(ctx.lang))\n")
            if !s.hint.isEmpty && s.status != .ok { ctx.output.data("      \(s.hint)\n") }
        }
    } else if let step = r.stepToFix {
        ctx.output.data("  " + ctx.lang.pick("fix (\(step.rawValue)): ", "à corriger (\(step.rawValue)) : ") + Advice.fix(r.diagnosis, r.environment, ctx.lang) + "\n")
    }
    if steps, r.failedStep == nil, let step = r.stepToFix {
        ctx.output.data("  " + ctx.lang.pick("fix (\(step.rawValue)): ", "à corriger (\(step.rawValue)) : ") + Advice.fix(r.diagnosis, r.environment, ctx.lang) + "\n")
    }
    for s in r.structures ?? [] {
        ctx.output.data("  \(ServerText.oneLine(s.identifiantStructure, limit: 40))  \(ServerText.oneLine(s.designationStructure))\n")
    }
    for w in r.warnings where w != r.message {
        ctx.output.warn(Failure(w, fr: w))
    }
    for n in r.notes { ctx.output.say("note: " + n, "note : " + n) }
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

    func run() async throws {
        let ctx = try Context(globals)
        let store = try ctx.store()
        var targets: [(ProfileName, PisteEnvironment)] = [(ctx.profile, ctx.pisteEnvironment)]
        if all {
            let listed: [CredentialKey: Int64?]
            do {
                listed = try await store.list()
            } catch {
                let r = CheckReport.failure(ctx.profile, ctx.pisteEnvironment, .vaultLocked,
                                            (error as? CproError)?.message(ctx.lang) ?? "\(error)", lang: ctx.lang)
                return try finish([r], ctx)
            }
            targets = Array(Set(listed.keys.map { "\($0.profile.value)\u{0}\($0.environment.rawValue)" })).sorted().map {
                let parts = $0.split(separator: "\u{0}")
                return (try! ProfileName(String(parts[0])), PisteEnvironment(rawValue: String(parts[1]))!)
            }
            guard !targets.isEmpty else {
                throw Failure("no credentials stored yet: nothing to check", fr: "aucun identifiant enregistré : rien à vérifier")
            }
        }
        // Read every selection first (one vault unlock), then check them all at once.
        let stamp = store.changeStamp()
        var snapshots: [(ProfileName, PisteEnvironment, CredentialStore)] = []
        for (p, e) in targets {
            do {
                let creds = try await store.read(p, e)
                snapshots.append((p, e, SnapshotStore.of(creds, p, e, kind: store.kind, stamp: stamp)))
            } catch {
                snapshots.append((p, e, FailingStore(kind: store.kind, error: error)))
            }
        }
        let reports = await withTaskGroup(of: (Int, CheckReport).self) { group in
            for (i, (p, e, s)) in snapshots.enumerated() {
                group.addTask { (i, await runCheck(ctx, s, p, e, onboarding: false)) }
            }
            var out: [(Int, CheckReport)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        try finish(reports, ctx)
    }

    func finish(_ reports: [CheckReport], _ ctx: Context) throws {
        let worst = reports.map(\.status).max() ?? .unknown
        if ctx.output.json {
            if all {
                ctx.output.json(["status": worst.rawValue, "checks": reports.map(\.healthJSON)])
            } else {
                ctx.output.json(reports[0].healthJSON)
            }
        } else {
            for r in reports { printHuman(r, ctx, steps: false) }
        }
        if worst != .ok { throw ExitCode(worst.exitCode) }
    }
}

/// A store whose read failed: the checker reports that failure as its own.
struct FailingStore: CredentialStore {
    let kind: BackendKind
    let error: Error & Sendable
    init(kind: BackendKind, error: Error) {
        self.kind = kind
        self.error = (error as? CproError) ?? Failure("\(error)", fr: "\(error)")
    }
    func read(_ p: ProfileName, _ e: PisteEnvironment) async throws -> Credentials { throw error }
    func write(_ values: [CredentialKey: StoredValue]) async throws { throw error }
    func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] { throw error }
    func list() async throws -> [CredentialKey: Int64?] { throw error }
    func status() async -> BackendStatus { BackendStatus(backend: kind, location: "", state: .locked) }
}
