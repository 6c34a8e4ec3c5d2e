import CproCore

/// The setup steps of the contract, in order.
package enum StepID: String, Sendable, CaseIterable, Codable {
    case pisteAccount = "piste-account"
    case cguConsent = "cgu-consent"
    case pisteApplication = "piste-application"
    case technicalAccount = "technical-account"
    case raccordement
    case authentication
    case firstRequest = "first-request"

    package func title(_ l: Language) -> String {
        switch self {
        case .pisteAccount: l.pick("PISTE account", "Compte PISTE")
        case .cguConsent: l.pick("Terms (CGU) of the Chorus Pro APIs", "Conditions (CGU) des API Chorus Pro")
        case .pisteApplication: l.pick("PISTE application, its four APIs, client ID and secret", "Application PISTE, ses quatre API, client ID et secret")
        case .technicalAccount: l.pick("Chorus Pro technical account", "Compte technique Chorus Pro")
        case .raccordement: l.pick("Raccordement (API connection declared on Chorus Pro)", "Raccordement (connexion API déclarée sur Chorus Pro)")
        case .authentication: l.pick("Both authentications together", "Les deux authentifications ensemble")
        case .firstRequest: l.pick("First request: linked structures", "Première requête : structures rattachées")
        }
    }
}

package enum StepStatus: String, Sendable, Codable {
    case ok, failed, skipped, manual
}

/// Where things are done, per environment.
package enum Portals {
    package static let piste = "https://piste.gouv.fr"
    package static func chorus(_ env: PisteEnvironment) -> String {
        env == .sandbox ? "https://qualif.chorus-pro.gouv.fr" : "https://chorus-pro.gouv.fr"
    }
    package static func space(_ env: PisteEnvironment, _ l: Language) -> String {
        env == .sandbox ? l.pick("the Sandbox space", "l'espace Sandbox") : l.pick("the Production space", "l'espace Production")
    }
}

/// What the user must do for each step: shown by the wizard, and as the
/// hint of a step that failed or cannot be checked.
package enum Advice {
    package static func instructions(_ step: StepID, _ env: PisteEnvironment, _ l: Language) -> String {
        let space = Portals.space(env, l)
        switch step {
        case .pisteAccount:
            return l.pick(
                "Create an account on \(Portals.piste) (one per person; it serves both environments) and confirm its e-mail address.",
                "Créez un compte sur \(Portals.piste) (un par personne ; il sert aux deux environnements) et confirmez son adresse e-mail.")
        case .cguConsent:
            return l.pick(
                "On \(Portals.piste), tab API > CGU API consent, accept the terms of the four Chorus Pro APIs (Factures, Structures, Utilisateurs, Transverses) for \(space). Each API is listed twice, sandbox and production: they are accepted separately.",
                "Sur \(Portals.piste), onglet API > Consentement CGU API, acceptez les conditions des quatre API Chorus Pro (Factures, Structures, Utilisateurs, Transverses) pour \(space). Chaque API y figure deux fois, sandbox et production : elles s'acceptent séparément.")
        case .pisteApplication:
            if env == .sandbox {
                return l.pick(
                    "In My applications on \(Portals.piste), the sandbox application APP_SANDBOX_<your e-mail> already exists: open it (do not create one), Edit, select the four Chorus Pro APIs, apply, and copy its client ID and client secret from its Authentication tab.",
                    "Dans Mes applications sur \(Portals.piste), l'application sandbox APP_SANDBOX_<votre e-mail> existe déjà : ouvrez-la (n'en créez pas), Modifier, sélectionnez les quatre API Chorus Pro, appliquez, et copiez son client ID et son client secret depuis son onglet Authentification.")
            }
            return l.pick(
                "In My applications on \(Portals.piste), create an application for production, edit it to select the four Chorus Pro APIs, and copy its client ID and client secret from its Authentication tab.",
                "Dans Mes applications sur \(Portals.piste), créez une application de production, modifiez-la pour sélectionner les quatre API Chorus Pro, et copiez son client ID et son client secret depuis son onglet Authentification.")
        case .technicalAccount:
            let where_ = l.pick(
                "On \(Portals.chorus(env)), the structure's main manager opens Activités du gestionnaire > Mes structures, modifies the structure and chooses \"Créer un utilisateur technique\"",
                "Sur \(Portals.chorus(env)), le gestionnaire principal de la structure ouvre Activités du gestionnaire > Mes structures, modifie la structure et choisit « Créer un utilisateur technique »")
            let sandbox = env == .sandbox ? l.pick(
                " On qualification no structure can be created: generate the test data set first, then create the technical user on one of its structures.",
                " En qualification aucune structure ne peut être créée : générez d'abord le jeu de données de test, puis créez l'utilisateur technique sur l'une de ses structures.") : ""
            return where_ + l.pick(
                "; its login looks like TECH_1_...@cpro.fr and its password is shown once. A new account can take up to an hour to become active.",
                " ; son login ressemble à TECH_1_...@cpro.fr et son mot de passe n'est affiché qu'une fois. Un compte récent peut mettre jusqu'à une heure à devenir actif.") + sandbox
        case .raccordement:
            return l.pick(
                "On \(Portals.chorus(env)), Raccordements EDI/API: declare the structure's API connection, naming the PISTE application (its code) and the technical account. Production needs it on top of the application and the technical account; Chorus Pro asks for it in qualification first. cpro cannot see it: confirm it yourself.",
                "Sur \(Portals.chorus(env)), Raccordements EDI/API : déclarez le raccordement API de la structure, en nommant l'application PISTE (son code) et le compte technique. La production l'exige en plus de l'application et du compte technique ; Chorus Pro le demande d'abord en qualification. cpro ne peut pas le voir : confirmez-le vous-même.")
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
    package static func step(for d: Diagnosis, missing: [StoredField] = []) -> StepID? {
        switch d {
        case .credentialsMissing:
            return missing.contains(.clientID) || missing.contains(.clientSecret) ? .pisteApplication : .technicalAccount
        case .oauthInvalidClient, .oauthRejected, .vaultLocked: return .pisteApplication
        case .techAccountRejected, .passwordExpiring, .noStructures, .structureInactive, .structureNotLinked: return .technicalAccount
        case .apiAccessDenied: return .cguConsent
        case .chorusError: return .firstRequest
        case .unreachable, .unexpectedResponse, .wrongEndpoint: return .authentication
        case .ok: return nil
        }
    }

    /// The same texts in both languages, for reports rendered later.
    package static func instructions(_ step: StepID, _ env: PisteEnvironment) -> Text {
        Text(instructions(step, env, .en), fr: instructions(step, env, .fr))
    }
    package static func fix(_ d: Diagnosis, _ selection: Selection) -> Text {
        Text(fix(d, selection, .en), fr: fix(d, selection, .fr))
    }

    /// One line saying how to fix a diagnosis.
    package static func fix(_ d: Diagnosis, _ selection: Selection, _ l: Language) -> String {
        let env = selection.environment
        let base = baseFix(d, selection, l)
        // In production a refusal that nothing else explains may be the missing
        // raccordement, which no answer names.
        guard env == .production, d == .oauthRejected || d == .apiAccessDenied else { return base }
        return base + l.pick(
            " In production, also check the raccordement: Raccordements EDI/API on \(Portals.chorus(env)) must name this PISTE application.",
            " En production, vérifiez aussi le raccordement : Raccordements EDI/API sur \(Portals.chorus(env)) doit nommer cette application PISTE.")
    }

    /// Every command it names carries the selection's options (`o`), so that
    /// following it acts on the profile and environment that were checked.
    static func baseFix(_ d: Diagnosis, _ selection: Selection, _ l: Language) -> String {
        let env = selection.environment
        let o = selection.options
        switch d {
        case .ok: return ""
        case .credentialsMissing:
            return l.pick("Store the missing values: `cpro onboard \(o)` (or `cpro creds set \(o)`).",
                          "Enregistrez les valeurs manquantes : `cpro onboard \(o)` (ou `cpro creds set \(o)`).")
        case .oauthInvalidClient:
            return l.pick("Copy the client ID and secret again from the application's page in \(Portals.space(env, l)) of PISTE (check that the application belongs to this environment and is active), then `cpro creds set client-id client-secret \(o)`.",
                          "Recopiez le client ID et le secret depuis la page de l'application dans \(Portals.space(env, l)) de PISTE (vérifiez que l'application appartient à cet environnement et qu'elle est active), puis `cpro creds set client-id client-secret \(o)`.")
        case .oauthRejected:
            return l.pick("On PISTE, check that the application is active and still subscribed to the Chorus Pro APIs, then `cpro health \(o)`.",
                          "Sur PISTE, vérifiez que l'application est active et toujours abonnée aux API Chorus Pro, puis `cpro health \(o)`.")
        case .techAccountRejected:
            return l.pick("Check tech-login and tech-password (`cpro creds set tech-login tech-password \(o)`); a technical account created less than an hour ago may not be active yet; its password expires every 424 days.",
                          "Vérifiez tech-login et tech-password (`cpro creds set tech-login tech-password \(o)`) ; un compte technique créé il y a moins d'une heure peut ne pas être encore actif ; son mot de passe expire tous les 424 jours.")
        case .apiAccessDenied:
            return l.pick("On PISTE, in \(Portals.space(env, l)), accept the terms (CGU) of the refused API and select it in the application, then `cpro health \(o)`.",
                          "Sur PISTE, dans \(Portals.space(env, l)), acceptez les conditions (CGU) de l'API refusée et sélectionnez-la dans l'application, puis `cpro health \(o)`.")
        case .chorusError:
            return l.pick("Both authentications work; Chorus Pro refused the request itself: read its libelle (`cpro health \(o) --verbose` shows the exchange).",
                          "Les deux authentifications fonctionnent ; Chorus Pro a refusé la requête elle-même : lisez son libellé (`cpro health \(o) --verbose` montre l'échange).")
        case .unreachable:
            return l.pick("Check the URL named above (`cpro config list \(o)` shows the URLs in use and PISTE_OAUTH_URL, CPRO_API_URL override them), the network, the proxy (https_proxy, no_proxy) and an internal CA (CPRO_CA_FILE); if PISTE answers 5xx, retry later.",
                          "Vérifiez l'URL indiquée ci-dessus (`cpro config list \(o)` montre les URL utilisées ; PISTE_OAUTH_URL et CPRO_API_URL les remplacent), le réseau, le proxy (https_proxy, no_proxy) et l'AC interne (CPRO_CA_FILE) ; si PISTE répond 5xx, réessayez plus tard.")
        case .unexpectedResponse:
            return l.pick("Something other than PISTE answered: check the URLs in use (`cpro config list \(o)`) and any proxy.",
                          "Autre chose que PISTE a répondu : vérifiez les URL utilisées (`cpro config list \(o)`) et le proxy éventuel.")
        case .wrongEndpoint:
            return l.pick("Check the API base URL (`cpro config list \(o)`, CPRO_API_URL): it must be the host, or end in /cpro (https://api.piste.gouv.fr/cpro); the stored credentials are not at fault.",
                          "Vérifiez l'URL de base de l'API (`cpro config list \(o)`, CPRO_API_URL) : l'hôte seul, ou se terminant par /cpro (https://api.piste.gouv.fr/cpro) ; les identifiants enregistrés ne sont pas en cause.")
        case .noStructures:
            return l.pick("The technical account is linked to no structure: on \(Portals.chorus(env)) the main manager links it to the structure (Mes structures > utilisateurs), then `cpro health \(o)`.",
                          "Le compte technique n'est rattaché à aucune structure : sur \(Portals.chorus(env)) le gestionnaire principal le rattache à la structure (Mes structures > utilisateurs), puis `cpro health \(o)`.")
        case .structureInactive:
            return l.pick("A linked structure, or the account's link to it, is not active: the structure's main manager activates it on \(Portals.chorus(env)), then `cpro health \(o)`.",
                          "Une structure rattachée, ou le rattachement du compte, n'est pas active : le gestionnaire principal l'active sur \(Portals.chorus(env)), puis `cpro health \(o)`.")
        case .structureNotLinked:
            return l.pick("The configured SIRET (`cpro config get siret \(o)`) is not among the linked structures: link the technical account to it on \(Portals.chorus(env)), or correct the SIRET.",
                          "Le SIRET configuré (`cpro config get siret \(o)`) n'est pas parmi les structures rattachées : rattachez-y le compte technique sur \(Portals.chorus(env)), ou corrigez le SIRET.")
        case .passwordExpiring:
            return l.pick("Ask the structure's main manager to change the technical password on \(Portals.chorus(env)), then `cpro creds set tech-password \(o)`.",
                          "Demandez au gestionnaire principal de changer le mot de passe technique sur \(Portals.chorus(env)), puis `cpro creds set tech-password \(o)`.")
        case .vaultLocked:
            return l.pick("Give the vault passphrase (`cpro vault unlock` at a terminal, or CPRO_VAULT_PASSPHRASE), or unlock the keyring; `cpro vault status` says which backend is locked.",
                          "Donnez la phrase de passe du coffre (`cpro vault unlock` dans un terminal, ou CPRO_VAULT_PASSPHRASE), ou déverrouillez le trousseau ; `cpro vault status` dit quel backend est verrouillé.")
        }
    }
}
