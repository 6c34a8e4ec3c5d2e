import CproCore

/// The setup steps of the contract, in order.
public enum StepID: String, Sendable, CaseIterable, Codable {
    case pisteAccount = "piste-account"
    case cguConsent = "cgu-consent"
    case pisteApplication = "piste-application"
    case technicalAccount = "technical-account"
    case authentication
    case firstRequest = "first-request"

    public func title(_ l: Language) -> String {
        switch self {
        case .pisteAccount: l.pick("PISTE account", "Compte PISTE")
        case .cguConsent: l.pick("Terms (CGU) of the Chorus Pro APIs", "Conditions (CGU) des API Chorus Pro")
        case .pisteApplication: l.pick("PISTE application, its four APIs, client ID and secret", "Application PISTE, ses quatre API, client ID et secret")
        case .technicalAccount: l.pick("Chorus Pro technical account", "Compte technique Chorus Pro")
        case .authentication: l.pick("Both authentications together", "Les deux authentifications ensemble")
        case .firstRequest: l.pick("First request: linked structures", "Première requête : structures rattachées")
        }
    }
}

public enum StepStatus: String, Sendable, Codable {
    case ok, failed, skipped, manual
}

/// Where things are done, per environment.
public enum Portals {
    public static let piste = "https://piste.gouv.fr"
    public static func chorus(_ env: PisteEnvironment) -> String {
        env == .sandbox ? "https://qualif.chorus-pro.gouv.fr" : "https://chorus-pro.gouv.fr"
    }
    public static func space(_ env: PisteEnvironment, _ l: Language) -> String {
        env == .sandbox ? l.pick("the Sandbox space", "l'espace Sandbox") : l.pick("the Production space", "l'espace Production")
    }
}

/// What the user must do for each step: shown by the wizard, and as the
/// hint of a step that failed or cannot be checked.
public enum Advice {
    public static func instructions(_ step: StepID, _ env: PisteEnvironment, _ l: Language) -> String {
        let space = Portals.space(env, l)
        switch step {
        case .pisteAccount:
            return l.pick(
                "Create an account on \(Portals.piste) (one per person; it serves both environments) and confirm its e-mail address.",
                "Créez un compte sur \(Portals.piste) (un par personne ; il sert aux deux environnements) et confirmez son adresse e-mail.")
        case .cguConsent:
            return l.pick(
                "On \(Portals.piste), in \(space), accept the terms (CGU) of the Chorus Pro APIs: Factures, Structures, Utilisateurs, Transverses. Sandbox and production are accepted separately.",
                "Sur \(Portals.piste), dans \(space), acceptez les conditions (CGU) des API Chorus Pro : Factures, Structures, Utilisateurs, Transverses. Sandbox et production s'acceptent séparément.")
        case .pisteApplication:
            return l.pick(
                "In \(space) of \(Portals.piste), create an application, select the four Chorus Pro APIs in it, and copy its client ID and client secret (OAuth credentials).",
                "Dans \(space) de \(Portals.piste), créez une application, sélectionnez-y les quatre API Chorus Pro, et copiez son client ID et son client secret (identifiants OAuth).")
        case .technicalAccount:
            return l.pick(
                "On \(Portals.chorus(env)), the main manager of the structure creates a technical account (Gestion des utilisateurs > Compte technique); its login looks like TECH_1_...@cpro.fr and its password is shown once. A new account can take up to an hour to become active.",
                "Sur \(Portals.chorus(env)), le gestionnaire principal de la structure crée un compte technique (Gestion des utilisateurs > Compte technique) ; son login ressemble à TECH_1_...@cpro.fr et son mot de passe n'est affiché qu'une fois. Un compte récent peut mettre jusqu'à une heure à devenir actif.")
        case .authentication:
            return l.pick(
                "cpro gets a token with the client ID and secret, then calls the API with the token and the cpro-account header together.",
                "cpro obtient un jeton avec le client ID et le secret, puis appelle l'API avec le jeton et l'en-tête cpro-account ensemble.")
        case .firstRequest:
            return l.pick(
                "cpro lists the structures the technical account is linked to (rattachements). On the sandbox they come from the test data set, not your company.",
                "cpro liste les structures auxquelles le compte technique est rattaché (rattachements). En sandbox elles viennent du jeu de test, pas de votre entreprise.")
        }
    }

    /// The step to fix for a diagnosis, per the contract.
    public static func step(for d: Diagnosis, missing: [StoredField] = []) -> StepID? {
        switch d {
        case .credentialsMissing:
            return missing.contains(.clientID) || missing.contains(.clientSecret) ? .pisteApplication : .technicalAccount
        case .oauthInvalidClient, .oauthRejected, .vaultLocked: return .pisteApplication
        case .techAccountRejected, .passwordExpiring: return .technicalAccount
        case .apiAccessDenied: return .cguConsent
        case .chorusError: return .firstRequest
        case .unreachable, .unexpectedResponse: return .authentication
        case .ok: return nil
        }
    }

    /// One line saying how to fix a diagnosis.
    public static func fix(_ d: Diagnosis, _ env: PisteEnvironment, _ l: Language) -> String {
        let e = env.rawValue
        switch d {
        case .ok: return ""
        case .credentialsMissing:
            return l.pick("Store the missing values: `cpro onboard --env \(e)` (or `cpro creds set --env \(e)`).",
                          "Enregistrez les valeurs manquantes : `cpro onboard --env \(e)` (ou `cpro creds set --env \(e)`).")
        case .oauthInvalidClient:
            return l.pick("Copy the client ID and secret again from the application's page in \(Portals.space(env, l)) of PISTE; check that the application belongs to this environment and is active.",
                          "Recopiez le client ID et le secret depuis la page de l'application dans \(Portals.space(env, l)) de PISTE ; vérifiez que l'application appartient à cet environnement et qu'elle est active.")
        case .oauthRejected:
            return l.pick("On PISTE, check that the application is active and still subscribed to the Chorus Pro APIs.",
                          "Sur PISTE, vérifiez que l'application est active et toujours abonnée aux API Chorus Pro.")
        case .techAccountRejected:
            return l.pick("Check tech-login and tech-password (`cpro creds set tech-login tech-password --env \(e)`); a technical account created less than an hour ago may not be active yet; its password expires every 424 days.",
                          "Vérifiez tech-login et tech-password (`cpro creds set tech-login tech-password --env \(e)`) ; un compte technique créé il y a moins d'une heure peut ne pas être encore actif ; son mot de passe expire tous les 424 jours.")
        case .apiAccessDenied:
            return l.pick("On PISTE, in \(Portals.space(env, l)), accept the terms (CGU) of the refused API and select it in the application.",
                          "Sur PISTE, dans \(Portals.space(env, l)), acceptez les conditions (CGU) de l'API refusée et sélectionnez-la dans l'application.")
        case .chorusError:
            return l.pick("Both authentications work; Chorus Pro refused the request itself: read its libelle.",
                          "Les deux authentifications fonctionnent ; Chorus Pro a refusé la requête elle-même : lisez son libellé.")
        case .unreachable:
            return l.pick("Check the network, proxy (https_proxy, no_proxy), internal CA (CPRO_CA_FILE) and the URLs (`cpro vault status`); retry later if PISTE answers 5xx.",
                          "Vérifiez le réseau, le proxy (https_proxy, no_proxy), l'AC interne (CPRO_CA_FILE) et les URL (`cpro vault status`) ; réessayez plus tard si PISTE répond 5xx.")
        case .unexpectedResponse:
            return l.pick("Something other than PISTE answered: check the configured URLs and any proxy.",
                          "Autre chose que PISTE a répondu : vérifiez les URL configurées et le proxy éventuel.")
        case .passwordExpiring:
            return l.pick("Ask the structure's main manager to change the technical password on \(Portals.chorus(env)), then `cpro creds set tech-password --env \(e)`.",
                          "Demandez au gestionnaire principal de changer le mot de passe technique sur \(Portals.chorus(env)), puis `cpro creds set tech-password --env \(e)`.")
        case .vaultLocked:
            return l.pick("Give the vault passphrase (a terminal, or CPRO_VAULT_PASSPHRASE), or unlock the keyring.",
                          "Donnez la phrase de passe du coffre (un terminal, ou CPRO_VAULT_PASSPHRASE), ou déverrouillez le trousseau.")
        }
    }
}
