import CproCore
import CproHTTP
import CproPiste
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

package enum HealthStatus: String, Sendable, Comparable {
    case ok, warning, critical, unknown

    /// Monitoring plugins' exit statuses.
    package var exitCode: Int32 {
        switch self { case .ok: 0; case .warning: 1; case .critical: 2; case .unknown: 3 }
    }

    package static func < (a: Self, b: Self) -> Bool { a.exitCode < b.exitCode }

    /// CRITICAL when the setup is wrong or PISTE cannot be reached; UNKNOWN when
    /// the check itself could not run (the vault is locked) or could not read
    /// the answer.
    package static func of(_ d: Diagnosis) -> HealthStatus {
        switch d {
        case .ok: .ok
        case .passwordExpiring, .noStructures, .structureInactive, .structureNotLinked: .warning
        case .vaultLocked, .unexpectedResponse: .unknown
        default: .critical
        }
    }
}

package struct StepResult: Sendable {
    package let id: StepID
    package let status: StepStatus
    package let diagnosis: Diagnosis?
    package let hint: Text
}

package struct CheckReport: Sendable {
    package let profile: ProfileName
    package let environment: PisteEnvironment
    package let steps: [StepResult]
    package let diagnosis: Diagnosis
    /// The outcome in both languages: the problem's message when there is one.
    package let message: Text
    /// What went wrong, as the error value itself (a `Failure` from the wire
    /// or a backend), for callers that act on its fields; nil when the check
    /// passed or only warns.
    package var problem: (any CproError)? = nil
    package let structures: [LinkedStructure]?
    package let warnings: [Text]
    package let refusedAPIs: [String]
    package let durationMs: Int
    package let passwordExpiresAt: Int64?
    /// chorus, declared or estimated.
    package var passwordExpirySource: String? = nil
    /// Facts worth knowing that are not a problem (a SIRET absent from the
    /// sandbox's test data set).
    package var notes: [Text] = []
    /// When the access token the check used expires.
    package var tokenExpiresAt: Int64? = nil
    /// The technical password expires within the critical threshold
    /// (`--critical-days`): CRITICAL rather than WARNING.
    package var passwordCritical = false

    /// A check that could not start (no store, a bad setting): the failing
    /// step from the diagnosis, the rest unknown.
    package static func failure(_ profile: ProfileName, _ env: PisteEnvironment, _ error: any CproError, default fallback: Diagnosis) -> CheckReport {
        let d = error.diagnosis ?? fallback
        let failing = Advice.step(for: d)
        var after = false
        let steps = StepID.allCases.map { id -> StepResult in
            if id == failing {
                after = true
                return StepResult(id: id, status: .failed, diagnosis: d, hint: Advice.fix(d, Selection(profile, env)))
            }
            return StepResult(id: id, status: after ? .skipped : .manual, diagnosis: nil, hint: after ? .empty : Advice.instructions(id, env))
        }
        return CheckReport(profile: profile, environment: env, steps: steps, diagnosis: d, message: error.text, problem: error, structures: nil,
                           warnings: [], refusedAPIs: [], durationMs: 0, passwordExpiresAt: nil)
    }

    package var status: HealthStatus {
        let s = HealthStatus.of(diagnosis)
        if passwordCritical && s <= .warning { return .critical }
        return s == .ok && !warnings.isEmpty ? .warning : s
    }

    /// Ready to work: every step passed (a warning does not stop the work).
    /// The technical password's expiry date has passed: CRITICAL, not ready.
    package var passwordExpired = false
    package var ready: Bool { HealthStatus.of(diagnosis) <= .warning && !passwordExpired }
    package var failedStep: StepID? { steps.first { $0.status == .failed }?.id }
    /// The step to fix: the failed one, or the one a warning is about.
    package var stepToFix: StepID? { failedStep ?? (diagnosis == .ok ? nil : Advice.step(for: diagnosis)) }

    /// `cpro health --json`, in the reader's language.
    package func healthJSON(_ lang: Language) -> ReportJSON {
        ReportJSON(
            status: status.rawValue, diagnosis: diagnosis.rawValue, message: message(lang), environment: environment.rawValue,
            profile: profile.value, durationMs: durationMs, warnings: warnings.map { $0(lang) }, structures: structures,
            step: stepToFix?.rawValue, refusedAPIs: refusedAPIs.isEmpty ? nil : refusedAPIs,
            passwordExpiresAt: passwordExpiresAt?.rfc3339, passwordExpirySource: passwordExpirySource,
            tokenExpiresAt: tokenExpiresAt?.rfc3339, notes: notes.isEmpty ? nil : notes.map { $0(lang) })
    }

    /// `cpro onboard --check --json`: the health object, the verdict and every step.
    package func onboardingJSON(_ lang: Language) -> ReportJSON {
        var o = healthJSON(lang)
        o.ready = ready
        o.steps = steps.map { s in
            ReportJSON.Step(id: s.id.rawValue, status: s.status.rawValue,
                            diagnosis: (s.diagnosis ?? (s.status == .ok ? .ok : nil))?.rawValue, hint: s.hint(lang))
        }
        return o
    }
}

/// The JSON shape of a check report (cli.md): keys absent rather than null,
/// except a step's diagnosis, which is null until the step is checked.
package struct ReportJSON: Encodable, Sendable {
    package var status: String
    package var diagnosis: String
    package var message: String
    package var environment: String
    package var profile: String
    package var durationMs: Int
    package var warnings: [String]
    package var structures: [LinkedStructure]?
    package var step: String?
    package var refusedAPIs: [String]?
    package var passwordExpiresAt: String?
    package var passwordExpirySource: String?
    package var tokenExpiresAt: String?
    package var notes: [String]?
    package var ready: Bool? = nil
    package var steps: [Step]? = nil

    package struct Step: Encodable, Sendable {
        package let id: String
        package let status: String
        package let diagnosis: String?
        package let hint: String
        package func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(status, forKey: .status)
            try c.encode(diagnosis, forKey: .diagnosis)  // null, not absent
            try c.encode(hint, forKey: .hint)
        }
        enum CodingKeys: String, CodingKey { case id, status, diagnosis, hint }
    }

    enum CodingKeys: String, CodingKey {
        case status, diagnosis, message, environment, profile, warnings, structures, step, notes, ready, steps
        case durationMs = "duration_ms"
        case refusedAPIs = "refused_apis"
        case passwordExpiresAt = "tech_password_expires_at"
        case passwordExpirySource = "password_expiry_source"
        case tokenExpiresAt = "token_expires_at"
    }
}

/// Runs the setup's checks in order and says which step is wrong.
package struct Checker: Sendable {
    package struct Options: Sendable {
        package var rotationDays = 424
        package var warnDaysBefore = 30
        /// Fewer days than this before the technical password expires is
        /// CRITICAL; nil: never critical on the date alone.
        package var criticalDaysBefore: Int? = nil
        package var maxPages = 50
        /// The structure this profile invoices for (config `siret`).
        package var siret: String? = nil
        /// When the technical password was last changed (config
        /// `tech_password_changed_at`), as declared by the user.
        package var passwordChangedAt: Int64? = nil
        package init() {}
    }

    let store: CredentialStore
    let profile: ProfileName
    let environment: PisteEnvironment
    let endpoints: Endpoints
    let transport: HTTPTransport
    let tokens: TokenProvider
    let options: Options
    let logger: Logger
    let clock: @Sendable () -> Int64

    package init(store: CredentialStore, profile: ProfileName, environment: PisteEnvironment, endpoints: Endpoints,
                transport: HTTPTransport, tokens: TokenProvider, options: Options = Options(),
                logger: Logger = Logger(label: "cpro.check"), clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.store = store
        self.profile = profile
        self.environment = environment
        self.endpoints = endpoints
        self.transport = transport
        self.tokens = tokens
        self.options = options
        self.logger = logger
        self.clock = clock
    }

    /// One cheap read-only call per API besides Utilisateurs (the
    /// rattachements themselves): together they tell which API the PISTE
    /// application lacks. A business refusal (codeRetour) still proves access.
    func probes() -> [(api: String, path: String, body: String)] {
        let siret = options.siret ?? "00000000000018"
        return [
            ("structures", "structures/v1/rechercher", #"{"structure":{"identifiantStructure":"\#(siret)","typeIdentifiantStructure":"SIRET"}}"#),
            ("factures", "factures/v1/rechercher/fournisseur", #"{"pagination":{"pageResultatDemandee":1,"nbResultatsParPage":1}}"#),
            ("transverses", "transverses/v1/recuperer/structures/actives/fournisseur", "{}"),
        ]
    }

    static let apiOrder = ["factures", "structures", "utilisateurs", "transverses"]

    final class Progress {
        var proven: Set<StepID> = []
        var warnings: [Text] = []
        var notes: [Text] = []
        var structures: [LinkedStructure]?
        var refused: [String] = []
        var expiresAt: Int64?
        var expirySource: String?
        var tokenExpiresAt: Int64?
        /// Warning diagnoses found after every step passed, most important first.
        var concerns: [(Diagnosis, Text)] = []
    }

    package func run() async -> CheckReport {
        let started = Date()
        let p = Progress()
        let failure = await walk(p)
        var passwordCritical = false
        // Expired already: CRITICAL and not ready, whatever --critical-days says.
        let passwordExpired = failure == nil && p.expiresAt.map { $0 <= clock() } == true
        if failure == nil, let expiry = p.expiresAt, let critical = options.criticalDaysBefore, expiry - clock() < Int64(critical) * 86_400 {
            passwordCritical = true
        }
        if passwordExpired { passwordCritical = true }
        if failure == nil, let expiry = p.expiresAt, passwordCritical || expiry - clock() < Int64(options.warnDaysBefore) * 86_400 {
            let days = max(0, (expiry - clock()) / 86_400)
            let source = p.expirySource == "chorus" ? Text.empty : p.expirySource == "declared"
                ? Text(", from the declared change date", fr: ", d'après la date de changement déclarée")
                : Text(", estimated from when it was stored", fr: ", estimé d'après sa date d'enregistrement")
            let date = expiry.rfc3339.prefix(10)
            if passwordExpired {
                let ago = (clock() - expiry) / 86_400
                p.concerns.append((.passwordExpiring, Text(
                    "the technical account's password expired \(ago) day(s) ago (\(date)\(source.en))",
                    fr: "le mot de passe du compte technique a expiré il y a \(ago) jour(s) (\(date)\(source.fr))")))
            } else {
                p.concerns.append((.passwordExpiring, Text(
                    "the technical account's password expires in \(days) day(s) (\(date)\(source.en))",
                    fr: "le mot de passe du compte technique expire dans \(days) jour(s) (\(date)\(source.fr))")))
            }
        }
        let (diagnosis, message, step): (Diagnosis, Text, StepID?)
        if let failure {
            (diagnosis, message, step) = (failure.diagnosis, failure.error.text, failure.step)
        } else if let first = p.concerns.first {
            (diagnosis, message, step) = (first.0, first.1, nil)
        } else {
            let n = p.structures?.count ?? 0
            (diagnosis, message, step) = (.ok, Text(
                "both authentications work; \(n) linked structure(s)",
                fr: "les deux authentifications fonctionnent ; \(n) structure(s) rattachée(s)"), nil)
        }
        var steps: [StepResult] = []
        var afterFailure = false
        for id in StepID.allCases {
            if id == step {
                steps.append(StepResult(id: id, status: .failed, diagnosis: diagnosis, hint: Advice.fix(diagnosis, Selection(profile, environment))))
                afterFailure = true
            } else if afterFailure {
                steps.append(StepResult(id: id, status: .skipped, diagnosis: nil,
                                        hint: Text("checked once the step that failed is fixed", fr: "vérifié une fois l'étape en échec corrigée")))
            } else if p.proven.contains(id) {
                steps.append(StepResult(id: id, status: .ok, diagnosis: .ok, hint: .empty))
            } else {
                steps.append(StepResult(id: id, status: .manual, diagnosis: nil, hint: Advice.instructions(id, environment)))
            }
        }
        if failure == nil { p.warnings.append(contentsOf: p.concerns.map(\.1)) }
        var report = CheckReport(
            profile: profile, environment: environment, steps: steps, diagnosis: diagnosis, message: message,
            structures: p.structures, warnings: p.warnings, refusedAPIs: p.refused,
            durationMs: Int(Date().timeIntervalSince(started) * 1000), passwordExpiresAt: p.expiresAt)
        report.problem = failure?.error
        report.passwordExpirySource = p.expiresAt == nil ? nil : p.expirySource
        report.notes = p.notes
        report.tokenExpiresAt = p.tokenExpiresAt
        report.passwordCritical = passwordCritical
        report.passwordExpired = passwordExpired
        return report
    }

    /// The failure that stops a check: its code, the error itself, and the
    /// step to fix.
    struct Stop {
        let diagnosis: Diagnosis
        let error: any CproError
        let step: StepID?
        init(_ diagnosis: Diagnosis, _ error: any CproError, _ step: StepID?) {
            self.diagnosis = diagnosis
            self.error = error
            self.step = step
        }
        /// Errors that are not cpro's own (none are expected) keep their
        /// description, which never holds a secret value.
        init(_ diagnosis: Diagnosis, foreign error: Error, _ step: StepID?) {
            self.init(diagnosis, (error as? CproError) ?? Failure(diagnosis, "\(error)", fr: "\(error)"), step)
        }
    }

    static func notSet(_ fields: [StoredField]) -> Failure {
        let names = fields.map(\.rawValue).joined(separator: ", ")
        return Failure(.credentialsMissing, "not set: \(names)", fr: "non enregistré(s) : \(names)")
    }

    /// nil when every step passed; otherwise why the check stopped.
    func walk(_ p: Progress) async -> Stop? {
        let creds: Credentials
        do {
            creds = try await store.read(profile, environment)
        } catch {
            let d = (error as? CproError)?.diagnosis ?? .vaultLocked
            return Stop(d, foreign: error, Advice.step(for: d))
        }
        let missingClient = [StoredField.clientID, .clientSecret].filter { creds[$0] == nil }
        if !missingClient.isEmpty {
            // Every missing field named at once, not the technical ones only after a second run.
            return Stop(.credentialsMissing, Self.notSet(StoredField.allCases.filter { creds[$0] == nil }), .pisteApplication)
        }
        do {
            p.tokenExpiresAt = try await tokens.token().expiresAt
        } catch let e as Failure where e.diagnosis != nil {
            let d = e.diagnosis!
            // An outage is the connection's step, as `Advice.step` says for
            // every report: not the PISTE application, which nothing faulted.
            return Stop(d, e, Advice.step(for: d))
        } catch {
            return Stop((error as? CproError)?.diagnosis ?? .vaultLocked, foreign: error, .pisteApplication)
        }
        p.proven.formUnion([.pisteAccount, .pisteApplication])
        let missingTech = [StoredField.techLogin, .techPassword].filter { creds[$0] == nil }
        if !missingTech.isEmpty {
            return Stop(.credentialsMissing, Self.notSet(missingTech), .technicalAccount)
        }
        let client: ChorusClient
        do {
            client = ChorusClient(transport: transport, tokens: tokens, endpoints: endpoints, cproAccount: try creds.cproAccount(), logger: logger)
        } catch {
            return Stop(.credentialsMissing, foreign: error, .technicalAccount)
        }
        if let declared = options.passwordChangedAt {
            (p.expiresAt, p.expirySource) = (declared + Int64(options.rotationDays) * 86_400, "declared")
        } else if let setAt = creds.values[.techPassword]?.setAt, setAt > 0 {
            (p.expiresAt, p.expirySource) = (setAt + Int64(options.rotationDays) * 86_400, "estimated")
        }
        // The four APIs at once: the rattachements prove both authentications,
        // the three probes prove the application may call the other APIs.
        async let listed = capture { try await linkedStructures(client) }
        async let probed = probeOtherAPIs(client)
        let (rattachements, refusedByProbes) = await (listed, probed)
        switch rattachements {
        case .success(let list):
            p.structures = list
            p.proven.formUnion([.cguConsent, .technicalAccount, .authentication, .firstRequest])
        case .failure(let e as Failure) where e.diagnosis != nil:
            let d = e.diagnosis!
            switch d {
            case .apiAccessDenied:
                p.refused = Self.apiOrder.filter { $0 == "utilisateurs" || refusedByProbes.contains($0) }
                return refusal(p)
            case .techAccountRejected:
                p.proven.insert(.cguConsent)
                return Stop(d, e, .technicalAccount)
            case .chorusError:
                p.proven.formUnion([.cguConsent, .technicalAccount, .authentication])
                return Stop(d, e, .firstRequest)
            case .unexpectedResponse where e.status.map({ (200...299).contains($0) }) == true:
                // An HTTP success proves both authentications; only the answer is unreadable.
                p.proven.formUnion([.cguConsent, .technicalAccount, .authentication])
                return Stop(d, e, .firstRequest)
            case .oauthRejected, .oauthInvalidClient:
                p.proven.subtract([.pisteApplication])
                return Stop(d, e, .pisteApplication)
            default:
                return Stop(d, e, .authentication)
            }
        case .failure(let error):
            return Stop((error as? CproError)?.diagnosis ?? .unexpectedResponse, foreign: error, .authentication)
        }
        if !refusedByProbes.isEmpty {
            p.refused = Self.apiOrder.filter { refusedByProbes.contains($0) }
            p.proven.remove(.cguConsent)
            return refusal(p)
        }
        examine(p.structures ?? [], p)
        if let first = p.structures?.first?.idStructure, let expiry = await passwordExpiry(client, structure: first) {
            (p.expiresAt, p.expirySource) = (expiry, "chorus")
        }
        return nil
    }

    func refusal(_ p: Progress) -> Stop {
        let names = p.refused.joined(separator: ", ")
        return Stop(.apiAccessDenied, Failure(
            .apiAccessDenied,
            "the gateway refuses the API(s) \(names) (HTTP 403): accept their terms for \(environment.rawValue) and select them in the application",
            fr: "la passerelle refuse l'API ou les API \(names) (HTTP 403) : acceptez leurs conditions pour \(environment.rawValue) et sélectionnez-les dans l'application",
            status: 403, api: names), .cguConsent)
    }

    /// The structures themselves: some at all, active, and the configured one among them.
    func examine(_ list: [LinkedStructure], _ p: Progress) {
        if list.isEmpty {
            p.concerns.append((.noStructures, Text(
                "both authentications work, but the technical account is linked to no structure",
                fr: "les deux authentifications fonctionnent, mais le compte technique n'est rattaché à aucune structure")))
        }
        if let siret = options.siret, !list.isEmpty, !list.contains(where: { $0.identifiantStructure == siret }) {
            if environment == .production {
                p.concerns.append((.structureNotLinked, Text(
                    "the configured SIRET \(siret) is not among the \(list.count) linked structure(s)",
                    fr: "le SIRET configuré \(siret) n'est pas parmi les \(list.count) structure(s) rattachée(s)")))
            } else {
                p.notes.append(Text(
                    "the configured SIRET \(siret) is not among the linked structures: expected on the sandbox, whose structures come from the qualification data set",
                    fr: "le SIRET configuré \(siret) n'est pas parmi les structures rattachées : normal en sandbox, dont les structures viennent du jeu de données de qualification"))
            }
        }
        let inactive = list.filter { !$0.isActive }
        if !inactive.isEmpty {
            let names = inactive.prefix(5).map {
                "\(ServerText.oneLine($0.designationStructure, limit: 60)) (\($0.identifiantStructure): \(ServerText.oneLine($0.statutRattachementStructure ?? "-", limit: 20))/\(ServerText.oneLine($0.statutUtilisateur ?? "-", limit: 20)))"
            }.joined(separator: ", ") + (inactive.count > 5 ? ", …" : "")
            p.concerns.append((.structureInactive, Text(
                "\(inactive.count) linked structure(s) not active: \(names)",
                fr: "\(inactive.count) structure(s) rattachée(s) non active(s) : \(names)")))
        }
    }

    func capture<T: Sendable>(_ work: @Sendable () async throws -> T) async -> Result<T, Error> {
        do { return .success(try await work()) } catch { return .failure(error) }
    }

    /// Every page of rattachements (PISTE pages by 100 at most).
    func linkedStructures(_ client: ChorusClient) async throws -> [LinkedStructure] {
        var out: [LinkedStructure] = []
        var page = 1
        while page <= options.maxPages {
            let body = try JSONEncoder().encode(LinkedStructuresRequest(page: page))
            let answer = try await client.post(LinkedStructuresPage.path, json: Array(body))
            let (list, pages) = Self.linkedStructures(in: answer)
            out += list
            if page >= pages || list.isEmpty { break }
            page += 1
        }
        return out
    }

    /// One page of rattachements and the page count the answer announces;
    /// read leniently (LinkedStructuresPage): the envelope already proved it
    /// is a JSON object.
    package static func linkedStructures(in answer: ChorusAnswer) -> (list: [LinkedStructure], pages: Int) {
        guard let page = try? answer.decode(LinkedStructuresPage.self) else { return ([], 1) }
        return (page.structures, page.pages)
    }

    /// Which of Structures, Factures and Transverses the gateway refuses,
    /// probed concurrently. A 401 that survives a fresh token counts too: the
    /// token is good for Utilisateurs, so it is this API that is not granted.
    func probeOtherAPIs(_ client: ChorusClient) async -> Set<String> {
        await withTaskGroup(of: String?.self) { group in
            for probe in probes() {
                group.addTask {
                    do {
                        _ = try await client.post(probe.path, json: Array(probe.body.utf8))
                    } catch let e as Failure where e.diagnosis == .apiAccessDenied || e.diagnosis == .oauthRejected {
                        return probe.api
                    } catch {
                        logger.debug("probe \(probe.api): \(error)")
                    }
                    return nil
                }
            }
            var refused = Set<String>()
            for await r in group { if let r { refused.insert(r) } }
            return refused
        }
    }

    /// structures/v1/consulter's dateExpirationMotPasseCompteTech, when the
    /// service gives it (seen in client libraries, unconfirmed live).
    func passwordExpiry(_ client: ChorusClient, structure: Int) async -> Int64? {
        let body = #"{"idStructureCPP":\#(structure),"codeLangue":"fr"}"#
        guard let answer = try? await client.post("structures/v1/consulter", json: Array(body.utf8)),
              let expiry = (try? answer.decode(StructureDetails.self))?.passwordExpiry
        else { return nil }
        switch expiry {
        case .string(let text): return DateText.chorus(text)
        case .integer(let n): return DateText.chorus(n)
        case .number(let d): return DateText.chorus(d)
        case .bool, .null: return nil
        }
    }
}
