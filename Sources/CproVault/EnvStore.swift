import CproCore

/// Read-only: the four values from the contract's variables, for CI jobs whose
/// secrets arrive as environment variables. Profile and environment are those
/// the user selected; the variables carry no such notion.
package struct EnvStore: CredentialStore {
    package let kind = BackendKind.env
    let variables: [String: String]
    let profile: ProfileName
    let environment: PisteEnvironment

    package init(variables: [String: String], profile: ProfileName, environment: PisteEnvironment) {
        self.variables = variables
        self.profile = profile
        self.environment = environment
    }

    package func read(_ profile: ProfileName, _ env: PisteEnvironment) async throws -> Credentials {
        guard profile == self.profile, env == environment else { return Credentials() }
        var out = Credentials()
        for field in StoredField.allCases {
            if let v = variables[field.variableName], !v.isEmpty {
                out.values[field] = StoredValue(SecretBytes(utf8: v), setAt: 0)
            }
        }
        return try out.checked(kind)
    }

    package func write(_ values: [CredentialKey: StoredValue]) async throws { throw StoreError.readOnly(kind) }
    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] { throw StoreError.readOnly(kind) }

    package func list() async throws -> [CredentialKey: Int64?] {
        var out: [CredentialKey: Int64?] = [:]
        for field in StoredField.allCases where !(variables[field.variableName] ?? "").isEmpty {
            out[CredentialKey(profile, environment, field)] = .some(nil)
        }
        return out
    }

    package func changeStamp() -> [UInt8]? {
        var out = Array("env".utf8)
        for field in StoredField.allCases {
            let v = Array((variables[field.variableName] ?? "").utf8)
            out += LittleEndian.bytes(UInt32(v.count)) + v
        }
        return out
    }

    package func status() async -> BackendStatus {
        let set = StoredField.allCases.filter { !(variables[$0.variableName] ?? "").isEmpty }
        return BackendStatus(
            backend: kind, location: "environment variables",
            state: set.isEmpty ? .absent : .ready,
            details: ["variables_set": set.map(\.variableName).joined(separator: ",")])
    }
}
