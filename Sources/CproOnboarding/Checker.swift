import CproCore
import CproHTTP
import CproPiste
import CproVault
import Foundation
import Logging

public struct LinkedStructure: Sendable, Equatable {
    public let idStructure: Int?
    public let identifiantStructure: String
    public let designationStructure: String
    public let typeIdentifiantStructure: String?

    public var json: [String: Any] {
        var o: [String: Any] = ["identifiantStructure": identifiantStructure, "designationStructure": designationStructure]
        if let idStructure { o["idStructure"] = idStructure }
        if let typeIdentifiantStructure { o["typeIdentifiantStructure"] = typeIdentifiantStructure }
        return o
    }
}

public enum HealthStatus: String, Sendable, Comparable {
    case ok, warning, critical, unknown

    /// Monitoring plugins' exit statuses.
    public var exitCode: Int32 {
        switch self { case .ok: 0; case .warning: 1; case .critical: 2; case .unknown: 3 }
    }

    public static func < (a: Self, b: Self) -> Bool { a.exitCode < b.exitCode }

    /// CRITICAL when the setup is wrong or PISTE cannot be reached; UNKNOWN when
    /// the check itself could not run (the vault is locked) or could not read
    /// the answer.
    public static func of(_ d: Diagnosis) -> HealthStatus {
        switch d {
        case .ok: .ok
        case .passwordExpiring: .warning
        case .vaultLocked, .unexpectedResponse: .unknown
        default: .critical
        }
    }
}

public struct StepResult: Sendable {
    public let id: StepID
    public let status: StepStatus
    public let diagnosis: Diagnosis?
    public let hint: String
}

public struct CheckReport: Sendable {
    public let profile: ProfileName
    public let environment: PisteEnvironment
    public let steps: [StepResult]
    public let diagnosis: Diagnosis
    public let message: String
    public let structures: [LinkedStructure]?
    public let warnings: [String]
    public let refusedAPIs: [String]
    public let durationMs: Int
    public let passwordExpiresAt: Int64?

    /// A check that could not start (no store, a bad setting): the failing
    /// step from the diagnosis, the rest unknown.
    public static func failure(_ profile: ProfileName, _ env: PisteEnvironment, _ d: Diagnosis, _ message: String, lang: Language) -> CheckReport {
        let failing = Advice.step(for: d)
        var after = false
        let steps = StepID.allCases.map { id -> StepResult in
            if id == failing {
                after = true
                return StepResult(id: id, status: .failed, diagnosis: d, hint: Advice.fix(d, env, lang))
            }
            return StepResult(id: id, status: after ? .skipped : .manual, diagnosis: nil, hint: after ? "" : Advice.instructions(id, env, lang))
        }
        return CheckReport(profile: profile, environment: env, steps: steps, diagnosis: d, message: message, structures: nil,
                           warnings: [], refusedAPIs: [], durationMs: 0, passwordExpiresAt: nil)
    }

    public var status: HealthStatus {
        let s = HealthStatus.of(diagnosis)
        return s == .ok && !warnings.isEmpty ? .warning : s
    }

    /// Ready to work: every step passed (a warning does not stop the work).
    public var ready: Bool { diagnosis == .ok || diagnosis == .passwordExpiring }
    public var failedStep: StepID? { steps.first { $0.status == .failed }?.id }

    public var healthJSON: [String: Any] {
        var o: [String: Any] = [
            "status": status.rawValue, "diagnosis": diagnosis.rawValue, "message": message,
            "environment": environment.rawValue, "profile": profile.value, "duration_ms": durationMs, "warnings": warnings,
        ]
        if let structures { o["structures"] = structures.map(\.json) }
        if let step = failedStep { o["step"] = step.rawValue }
        if !refusedAPIs.isEmpty { o["refused_apis"] = refusedAPIs }
        if let p = passwordExpiresAt { o["tech_password_expires_at"] = p.rfc3339 }
        return o
    }

    public var onboardingJSON: [String: Any] {
        var o = healthJSON
        o["ready"] = ready
        o["steps"] = steps.map { s -> [String: Any] in
            ["id": s.id.rawValue, "status": s.status.rawValue, "diagnosis": (s.diagnosis ?? (s.status == .ok ? .ok : nil))?.rawValue ?? NSNull(), "hint": s.hint]
        }
        return o
    }
}

/// Runs the setup's checks in order and says which step is wrong.
public struct Checker: Sendable {
    public struct Options: Sendable {
        /// Probe one cheap read per API on success too (onboarding), not only
        /// after a 403 (health).
        public var probeAllAPIs = false
        public var rotationDays = 424
        public var warnDaysBefore = 30
        public var maxPages = 50
        public init() {}
    }

    let store: CredentialStore
    let profile: ProfileName
    let environment: PisteEnvironment
    let endpoints: Endpoints
    let transport: HTTPTransport
    let tokens: TokenProvider
    let lang: Language
    let options: Options
    let logger: Logger
    let clock: @Sendable () -> Int64

    public init(store: CredentialStore, profile: ProfileName, environment: PisteEnvironment, endpoints: Endpoints,
                transport: HTTPTransport, tokens: TokenProvider, lang: Language, options: Options = Options(),
                logger: Logger = Logger(label: "cpro.check"), clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.store = store
        self.profile = profile
        self.environment = environment
        self.endpoints = endpoints
        self.transport = transport
        self.tokens = tokens
        self.lang = lang
        self.options = options
        self.logger = logger
        self.clock = clock
    }

    static let probes: [(api: String, path: String, body: String)] = [
        ("factures", "factures/v1/rechercher/fournisseur", "{}"),
        ("structures", "structures/v1/rechercher", #"{"structure":{"identifiantStructure":"00000000000018","typeIdentifiantStructure":"SIRET"}}"#),
        ("utilisateurs", "utilisateurs/v1/monCompte/recuperer/rattachements", #"{"parametresRecherche":{"nbResultatsParPage":1,"pageResultatDemandee":1}}"#),
        ("transverses", "transverses/v1/recuperer/structures/actives/fournisseur", "{}"),
    ]

    final class Progress: @unchecked Sendable {
        var proven: Set<StepID> = []
        var warnings: [String] = []
        var structures: [LinkedStructure]?
        var refused: [String] = []
        var expiresAt: Int64?
    }

    public func run() async -> CheckReport {
        let started = Date()
        let p = Progress()
        if endpoints.usesRetiredGateway {
            p.warnings.append(lang.pick("the configured host *.aife.economie.gouv.fr was shut down in September 2023",
                                        "l'hôte configuré *.aife.economie.gouv.fr est fermé depuis septembre 2023"))
        }
        let failure = await walk(p)
        let (diagnosis, message, step): (Diagnosis, String, StepID?)
        if let failure {
            (diagnosis, message, step) = failure
        } else if let expiry = p.expiresAt, expiry - clock() < Int64(options.warnDaysBefore) * 86_400 {
            let days = max(0, (expiry - clock()) / 86_400)
            (diagnosis, message, step) = (.passwordExpiring, lang.pick(
                "the technical account's password expires in \(days) day(s) (\(expiry.rfc3339.prefix(10)))",
                "le mot de passe du compte technique expire dans \(days) jour(s) (\(expiry.rfc3339.prefix(10)))"), nil)
        } else {
            let n = p.structures?.count ?? 0
            (diagnosis, message, step) = (.ok, lang.pick(
                "both authentications work; \(n) linked structure(s)",
                "les deux authentifications fonctionnent ; \(n) structure(s) rattachée(s)"), nil)
        }
        var steps: [StepResult] = []
        var afterFailure = false
        for id in StepID.allCases {
            if id == step {
                steps.append(StepResult(id: id, status: .failed, diagnosis: diagnosis, hint: Advice.fix(diagnosis, environment, lang)))
                afterFailure = true
            } else if afterFailure {
                steps.append(StepResult(id: id, status: .skipped, diagnosis: nil,
                                        hint: lang.pick("checked once the step that failed is fixed", "vérifié une fois l'étape en échec corrigée")))
            } else if p.proven.contains(id) {
                steps.append(StepResult(id: id, status: .ok, diagnosis: .ok, hint: ""))
            } else {
                steps.append(StepResult(id: id, status: .manual, diagnosis: nil, hint: Advice.instructions(id, environment, lang)))
            }
        }
        if diagnosis == .passwordExpiring {
            p.warnings.append(message)
        }
        return CheckReport(
            profile: profile, environment: environment, steps: steps, diagnosis: diagnosis, message: message,
            structures: p.structures, warnings: p.warnings, refusedAPIs: p.refused,
            durationMs: Int(Date().timeIntervalSince(started) * 1000), passwordExpiresAt: p.expiresAt)
    }

    /// nil when every step passed; otherwise the diagnosis, its message, and
    /// the step to fix.
    func walk(_ p: Progress) async -> (Diagnosis, String, StepID?)? {
        let creds: Credentials
        do {
            creds = try await store.read(profile, environment)
        } catch {
            let d = (error as? DiagnosedError)?.diagnosis ?? .vaultLocked
            return (d, (error as? CproError)?.message(lang) ?? "\(error)", Advice.step(for: d))
        }
        let missingClient = [StoredField.clientID, .clientSecret].filter { creds[$0] == nil }
        if !missingClient.isEmpty {
            return (.credentialsMissing, lang.pick(
                "not set: \(missingClient.map(\.rawValue).joined(separator: ", "))",
                "non enregistré(s) : \(missingClient.map(\.rawValue).joined(separator: ", "))"), .pisteApplication)
        }
        do {
            _ = try await tokens.token()
        } catch let e as PisteError {
            return (e.diagnosis, e.message(lang), e.diagnosis == .unreachable || e.diagnosis == .unexpectedResponse ? .pisteApplication : Advice.step(for: e.diagnosis))
        } catch {
            return (.vaultLocked, (error as? CproError)?.message(lang) ?? "\(error)", .pisteApplication)
        }
        p.proven.formUnion([.pisteAccount, .pisteApplication])
        let missingTech = [StoredField.techLogin, .techPassword].filter { creds[$0] == nil }
        if !missingTech.isEmpty {
            return (.credentialsMissing, lang.pick(
                "not set: \(missingTech.map(\.rawValue).joined(separator: ", "))",
                "non enregistré(s) : \(missingTech.map(\.rawValue).joined(separator: ", "))"), .technicalAccount)
        }
        let client: ChorusClient
        do {
            client = ChorusClient(transport: transport, tokens: tokens, endpoints: endpoints, cproAccount: try creds.cproAccount(), logger: logger)
        } catch {
            return (.credentialsMissing, (error as? CproError)?.message(lang) ?? "\(error)", .technicalAccount)
        }
        if let setAt = creds.values[.techPassword]?.setAt, setAt > 0 {
            p.expiresAt = setAt + Int64(options.rotationDays) * 86_400
        }
        do {
            p.structures = try await linkedStructures(client)
            p.proven.formUnion([.cguConsent, .technicalAccount, .authentication, .firstRequest])
        } catch let e as PisteError {
            switch e.diagnosis {
            case .apiAccessDenied:
                p.refused = await refusedAPIs(client)
                let names = p.refused.isEmpty ? (e.api ?? "utilisateurs") : p.refused.joined(separator: ", ")
                return (.apiAccessDenied, lang.pick(
                    "the gateway refuses the API(s) \(names) (HTTP 403): terms not accepted for \(environment.rawValue), or not selected in the application",
                    "la passerelle refuse l'API ou les API \(names) (HTTP 403) : conditions non acceptées pour \(environment.rawValue), ou API non sélectionnée dans l'application"), .cguConsent)
            case .techAccountRejected:
                p.proven.insert(.cguConsent)
                return (e.diagnosis, e.message(lang), .technicalAccount)
            case .chorusError:
                p.proven.formUnion([.cguConsent, .technicalAccount, .authentication])
                return (e.diagnosis, e.message(lang), .firstRequest)
            case .oauthRejected, .oauthInvalidClient:
                p.proven.subtract([.pisteApplication])
                return (e.diagnosis, e.message(lang), .pisteApplication)
            default:
                return (e.diagnosis, e.message(lang), .authentication)
            }
        } catch {
            return (.unexpectedResponse, "\(error)", .authentication)
        }
        if options.probeAllAPIs {
            p.refused = await refusedAPIs(client)
            if !p.refused.isEmpty {
                p.proven.remove(.cguConsent)
                return (.apiAccessDenied, lang.pick(
                    "the gateway refuses the API(s) \(p.refused.joined(separator: ", ")) (HTTP 403): accept their terms for \(environment.rawValue) and select them in the application",
                    "la passerelle refuse l'API ou les API \(p.refused.joined(separator: ", ")) (HTTP 403) : acceptez leurs conditions pour \(environment.rawValue) et sélectionnez-les dans l'application"), .cguConsent)
            }
        }
        if let first = p.structures?.first?.idStructure, let expiry = await passwordExpiry(client, structure: first) {
            p.expiresAt = expiry
        }
        return nil
    }

    /// Every page of rattachements (PISTE pages by 100 at most).
    func linkedStructures(_ client: ChorusClient) async throws -> [LinkedStructure] {
        var out: [LinkedStructure] = []
        var page = 1
        while page <= options.maxPages {
            let body = #"{"parametresRecherche":{"nbResultatsParPage":100,"pageResultatDemandee":\#(page)}}"#
            let answer = try await client.post("utilisateurs/v1/monCompte/recuperer/rattachements", json: Array(body.utf8))
            // One third-party guide names the list listeRattachements: accept both.
            let list = (answer.object["listeStructureRattachement"] ?? answer.object["listeRattachements"]) as? [[String: Any]] ?? []
            for item in list {
                out.append(LinkedStructure(
                    idStructure: ChorusAnswer.code(item["idStructure"]),
                    identifiantStructure: item["identifiantStructure"] as? String ?? (item["identifiantStructure"].map { "\($0)" } ?? ""),
                    designationStructure: item["designationStructure"] as? String ?? "",
                    typeIdentifiantStructure: item["typeIdentifiantStructure"] as? String))
            }
            let params = answer.object["parametresRetour"] as? [String: Any]
            let pages = ChorusAnswer.code(params?["pages"]) ?? 1
            if page >= pages || list.isEmpty { break }
            page += 1
        }
        return out
    }

    /// Which of the four APIs the gateway refuses with 403.
    func refusedAPIs(_ client: ChorusClient) async -> [String] {
        var refused: [String] = []
        for probe in Self.probes {
            do {
                _ = try await client.post(probe.path, json: Array(probe.body.utf8))
            } catch let e as PisteError where e.diagnosis == .apiAccessDenied {
                refused.append(probe.api)
            } catch {
                logger.debug("probe \(probe.api): \(error)")
            }
        }
        return refused
    }

    /// structures/v1/consulter's dateExpirationMotPasseCompteTech, when the
    /// service gives it (seen in client libraries, unconfirmed live).
    func passwordExpiry(_ client: ChorusClient, structure: Int) async -> Int64? {
        let body = #"{"idStructureCPP":\#(structure),"codeLangue":"fr"}"#
        guard let answer = try? await client.post("structures/v1/consulter", json: Array(body.utf8)),
              let info = answer.object["informationGenerales"] as? [String: Any],
              let raw = info["dateExpirationMotPasseCompteTech"]
        else { return nil }
        if let ms = raw as? Int { return Int64(ms / 1000) }
        guard let text = raw as? String else { return nil }
        let parts = text.prefix(10).split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var tm = tm()
        tm.tm_year = Int32(parts[0] - 1900)
        tm.tm_mon = Int32(parts[1] - 1)
        tm.tm_mday = Int32(parts[2])
        return Int64(timegm(&tm))
    }
}
