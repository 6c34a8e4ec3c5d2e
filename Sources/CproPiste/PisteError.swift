import CproCore
import CproHTTP

/// The failures on the wire: a diagnosis code of the contract and a message
/// in both languages, as `Failure` values.
extension Failure {
    /// Said of a write that may have reached the server: sending it again
    /// could do it twice (deposit the same invoice twice).
    package static let mayHaveArrived = (
        en: "; the request may have reached the server, so cpro did not send it again: check its effect (e.g. the invoice's status) before retrying",
        fr: " ; la requête a pu atteindre le serveur, donc cpro ne l'a pas renvoyée : vérifiez son effet (par exemple le statut de la facture) avant de réessayer")

    /// `endpoint` says which one and where its URL came from: the host alone
    /// leaves a user guessing which variable or setting sent cpro there.
    static func unreachable(_ e: TransportError, attempts: Int, uncertainWrite: Bool = false, endpoint: Text? = nil) -> Failure {
        let (en, fr): (String, String)
        switch e.kind {
        case .dns: (en, fr) = ("the name \(e.host) does not resolve (DNS)", "le nom \(e.host) ne se résout pas (DNS)")
        case .refused: (en, fr) = ("\(e.host) refused the connection", "\(e.host) a refusé la connexion")
        case .timeout: (en, fr) = ("\(e.host) did not answer in time", "\(e.host) n'a pas répondu à temps")
        case .tls: (en, fr) = ("the TLS handshake with \(e.host) failed (\(ServerText.oneLine(e.detail)))", "la négociation TLS avec \(e.host) a échoué (\(ServerText.oneLine(e.detail)))")
        case .other: (en, fr) = ("cannot reach \(e.host) (\(ServerText.oneLine(e.detail)))", "impossible de joindre \(e.host) (\(ServerText.oneLine(e.detail)))")
        }
        let note = uncertainWrite && e.mayHaveReachedServer ? mayHaveArrived : (en: "", fr: "")
        let whereTo = endpoint.map { (en: " (\($0.en))", fr: " (\($0.fr))") } ?? (en: "", fr: "")
        return Failure(.unreachable, "\(en)\(whereTo.en), after \(attempts) attempt(s)\(note.en)",
                       fr: "\(fr)\(whereTo.fr), après \(attempts) tentative(s)\(note.fr)")
    }
}

extension Failure {
    /// The gateway at *.aife.economie.gouv.fr was shut down in September
    /// 2023: a request there could only time out, and would hand the
    /// credentials to whoever holds that name now. Nothing is sent.
    static func refusingRetiredGateway(_ url: String) -> Failure {
        Failure(
            .wrongEndpoint,
            "\(url) is on the gateway *.aife.economie.gouv.fr, shut down in September 2023: nothing was sent. Use the PISTE hosts: `cpro config unset oauth_url` and `cpro config unset api_url` (or fix PISTE_OAUTH_URL, CPRO_API_URL)",
            fr: "\(url) est sur la passerelle *.aife.economie.gouv.fr, fermée depuis septembre 2023 : rien n'a été envoyé. Utilisez les hôtes PISTE : `cpro config unset oauth_url` et `cpro config unset api_url` (ou corrigez PISTE_OAUTH_URL, CPRO_API_URL)")
    }
}
