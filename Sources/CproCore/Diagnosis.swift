/// The contract's diagnosis codes (cli.md). Every failure of a check ends as one.
public enum Diagnosis: String, Sendable, CaseIterable, Codable {
    case ok
    case credentialsMissing = "credentials_missing"
    case oauthInvalidClient = "oauth_invalid_client"
    case oauthRejected = "oauth_rejected"
    case techAccountRejected = "tech_account_rejected"
    case wrongEndpoint = "wrong_endpoint"
    case apiAccessDenied = "api_access_denied"
    case chorusError = "chorus_error"
    case noStructures = "no_structures"
    case structureInactive = "structure_inactive"
    case structureNotLinked = "structure_not_linked"
    case unreachable
    case unexpectedResponse = "unexpected_response"
    case passwordExpiring = "password_expiring"
    case vaultLocked = "vault_locked"
}
