import CproCore

/// Credentials already read, served from memory: lets several checks run
/// concurrently on values read once, and the onboarding wizard verify values
/// before they are saved. Read-only.
package struct SnapshotStore: CredentialStore {
    package let kind: BackendKind
    let values: [CredentialKey: StoredValue]
    let stamp: [UInt8]?

    /// `stamp` is the source's change stamp taken before reading, so a token
    /// cached through the snapshot is re-checked if the source changed since.
    package init(kind: BackendKind, values: [CredentialKey: StoredValue], stamp: [UInt8]?) {
        self.kind = kind
        self.values = values
        self.stamp = stamp
    }

    package static func of(_ creds: Credentials, _ profile: ProfileName, _ env: PisteEnvironment, kind: BackendKind, stamp: [UInt8]?) -> SnapshotStore {
        SnapshotStore(kind: kind, values: Dictionary(uniqueKeysWithValues: creds.values.map { (CredentialKey(profile, env, $0.key), $0.value) }), stamp: stamp)
    }

    package func read(_ profile: ProfileName, _ environment: PisteEnvironment) async throws -> Credentials {
        var out = Credentials()
        for (k, v) in values where k.profile == profile && k.environment == environment { out.values[k.field] = v }
        return out
    }

    package func write(_ values: [CredentialKey: StoredValue]) async throws { throw StoreError.readOnly(kind) }
    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] { throw StoreError.readOnly(kind) }
    package func list() async throws -> [CredentialKey: Int64?] { values.mapValues { Optional($0.setAt) } }
    package func status() async -> BackendStatus { BackendStatus(backend: kind, location: "memory", state: .ready) }
    package func changeStamp() -> [UInt8]? { stamp }
}
