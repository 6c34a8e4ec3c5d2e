import CproCore

// The `--json` documents, one type per command output: the names are part
// of the command-line contract (cli.md, docs/commands.md), so they are
// spelt once, here, and a renamed property cannot change them silently.
// Absent keys are left out; a key documented as null says so.

struct TokenJSON: Encodable {
    let accessToken: String
    let tokenType: String
    let expiresAt: String
    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", tokenType = "token_type", expiresAt = "expires_at"
    }
}

struct TokenClearedJSON: Encodable {
    let cleared: Bool
    let profile: String
    let environment: String
}

struct CredsValueJSON: Encodable {
    let field: String
    let value: String
    let profile: String
    let environment: String
}

struct CredsStoredJSON: Encodable {
    let stored: [String]
    let profile: String
    let environment: String
    let backend: String
}

struct CredsImportedJSON: Encodable {
    let stored: [String]
    let endpoints: [String]
    let profile: String
    let environment: String
}

struct CredsRemovedJSON: Encodable {
    let removed: [String]
    let profile: String
    let environment: String
}

struct CredsListJSON: Encodable {
    struct Field: Encodable {
        let set: Bool
        let setAt: String?
        enum CodingKeys: String, CodingKey { case set, setAt = "set_at" }
    }
    struct Entry: Encodable {
        let profile: String
        let environment: String
        let fields: [String: Field]
    }
    let backend: String
    let entries: [Entry]
}

struct CredsMigratedJSON: Encodable {
    let copied: [String]
    let from: String
    let to: String
    let removedSource: Bool
    enum CodingKeys: String, CodingKey { case copied, from, to, removedSource = "removed_source" }
}

struct CredsRotatedJSON: Encodable {
    let rotated: String
    let profile: String
    let environment: String
    let verified: Bool
}

struct VaultCreatedJSON: Encodable {
    let backend: String
    let created: Bool
}

struct VaultStatusJSON: Encodable {
    let backend: String
    let location: String
    let state: String
    let details: [String: String]
    let config: String
    let message: String?
}

struct VaultUnlockedJSON: Encodable {
    let unlocked: Bool
    let idleSeconds: Int
    let agentPID: Int
    let socket: String
    enum CodingKeys: String, CodingKey { case unlocked, idleSeconds = "idle_seconds", agentPID = "agent_pid", socket }
}

struct VaultLockedJSON: Encodable {
    let locked: Bool
    let agentWasRunning: Bool
    enum CodingKeys: String, CodingKey { case locked, agentWasRunning = "agent_was_running" }
}

/// A config value as JSON: its own type, or null when unset.
struct ConfigValueJSON: Encodable {
    let value: Config.Value?
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .string(let s)?: try c.encode(s)
        case .integer(let i)?: try c.encode(i)
        case .bool(let b)?: try c.encode(b)
        case nil: try c.encodeNil()
        }
    }
}

struct ConfigGetJSON: Encodable {
    let key: String
    let value: ConfigValueJSON
    let scope: String
}

struct ConfigListJSON: Encodable {
    let profile: String
    let environment: String
    let file: String
    let settings: [String: ConfigValueJSON]
    let effective: [String: String]
}
