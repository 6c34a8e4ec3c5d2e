#if canImport(CLibSecret)
import CLibSecret
import CproCore
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// The desktop Secret Service (GNOME Keyring, KWallet's bridge) through
/// libsecret's non-variadic calls. One item per value, in the default
/// collection, with the attributes `application`=cpro, `profile`,
/// `environment`, `field` and `set_at`, so that
/// `secret-tool lookup profile P environment E field F` finds it.
///
/// Never a hang: the session bus and the service's name are checked first
/// (GLib is never allowed to autolaunch a bus), and every libsecret call runs
/// on a worker thread bounded by a timeout, then cancelled.
package final class SecretServiceStore: CredentialStore, Sendable {
    package let kind = BackendKind.secretService
    let environment: [String: String]
    let logger: Logger
    let readTimeout: Double
    let unlockTimeout: Double
    /// An unlock prompt can only be answered on a desktop session.
    let canPrompt: Bool

    package static let schemaName = "fr.cpro.Credential"

    /// Held across a write's store and clean-up, so two writers of one value
    /// never delete each other's new item. nil: no lock (tests of one process).
    let lockPath: String?

    package init(environment: [String: String], logger: Logger = Logger(label: "cpro.secret-service"),
                readTimeout: Double = 5, unlockTimeout: Double = 120, lockPath: String? = nil) {
        self.lockPath = lockPath
        self.environment = environment
        self.logger = logger
        // A busy desktop (or a loaded test machine) may need longer than 5 s.
        let configured = environment["CPRO_SECRET_SERVICE_TIMEOUT"].flatMap(Double.init).flatMap { $0 > 0 && $0 <= 600 ? $0 : nil }
        self.readTimeout = configured ?? readTimeout
        self.unlockTimeout = unlockTimeout
        canPrompt = !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
    }

    /// A GLib pointer (not Sendable), written once by the lazy initialiser
    /// of a static (thread-safe in Swift) and only read afterwards.
    nonisolated(unsafe) static let schema: OpaquePointer = {
        let types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, nil)
        for name in ["application", "profile", "environment", "field", "set_at"] {
            // The value is GINT_TO_POINTER(SECRET_SCHEMA_ATTRIBUTE_STRING), i.e. 0.
            g_hash_table_insert(types, g_strdup(name), nil)
        }
        // DONT_MATCH_NAME: items stored by secret-tool (no xdg:schema) match too.
        let s = secret_schema_newv(schemaName, SecretSchemaFlags(rawValue: SECRET_SCHEMA_DONT_MATCH_NAME.rawValue), types)!
        g_hash_table_unref(types)
        return s
    }()

    // MARK: errors

    static let recipe = "dbus-run-session -- sh -c 'printf %s PASSWORD | gnome-keyring-daemon --unlock --components=secrets; ...'"

    // MARK: reachability

    /// The session bus address, without letting GLib autolaunch one.
    func sessionBus() throws {
        if let a = environment["DBUS_SESSION_BUS_ADDRESS"], !a.isEmpty { return }
        if let run = environment["XDG_RUNTIME_DIR"], !run.isEmpty, FileManager.default.fileExists(atPath: run + "/bus") { return }
        throw Failure.vaultLocked(
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set): the Secret Service needs a desktop session, or headless: \(Self.recipe); or choose --backend file",
            fr: "pas de bus de session D-Bus (DBUS_SESSION_BUS_ADDRESS n'est pas défini) : le Secret Service a besoin d'une session de bureau, ou sans écran : \(Self.recipe) ; ou choisissez --backend file")
    }

    /// Whether a Secret Service owns, or can be activated for, its bus name.
    func serviceOnBus() throws {
        try sessionBus()
        let timeoutMs = Int32(readTimeout * 1000)
        let present = try bounded(readTimeout, what: "the session bus") { cancellable -> Bool in
            var error: UnsafeMutablePointer<GError>?
            guard let bus = g_bus_get_sync(G_BUS_TYPE_SESSION, cancellable, &error) else { throw Self.gerror(error) }
            defer { g_object_unref(UnsafeMutableRawPointer(bus)) }
            func call(_ method: String, _ args: OpaquePointer?) throws -> OpaquePointer {
                var e: UnsafeMutablePointer<GError>?
                guard let r = g_dbus_connection_call_sync(
                    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method, args, nil,
                    G_DBUS_CALL_FLAGS_NONE, timeoutMs, cancellable, &e)
                else { throw Self.gerror(e) }
                return r
            }
            var name = g_variant_new_string("org.freedesktop.secrets")
            let owned = try call("NameHasOwner", g_variant_new_tuple(&name, 1))
            defer { g_variant_unref(owned) }
            if g_variant_get_boolean(g_variant_get_child_value(owned, 0)) != 0 { return true }
            let activatable = try call("ListActivatableNames", nil)
            defer { g_variant_unref(activatable) }
            let list = g_variant_get_child_value(activatable, 0)
            for i in 0..<g_variant_n_children(list) {
                if let s = g_variant_get_string(g_variant_get_child_value(list, i), nil), String(cString: s) == "org.freedesktop.secrets" {
                    return true
                }
            }
            return false
        }
        guard present else {
            throw Failure.vaultLocked(
                "no Secret Service on the session bus (org.freedesktop.secrets): start a keyring (gnome-keyring-daemon --start --components=secrets), or choose --backend file",
                fr: "pas de Secret Service sur le bus de session (org.freedesktop.secrets) : démarrez un trousseau (gnome-keyring-daemon --start --components=secrets), ou choisissez --backend file")
        }
    }

    /// The default collection, unlocked; never creates one.
    func defaultCollectionUnlocked() throws {
        try serviceOnBus()
        let state = try bounded(readTimeout, what: "the Secret Service") { cancellable -> (exists: Bool, locked: Bool) in
            var error: UnsafeMutablePointer<GError>?
            // No collections loaded: loading them loads every item, outside
            // cpro's write lock, and an item another writer deletes meanwhile
            // failed the whole call ("No such secret item", 35 of 50
            // concurrent writers in scripts/prove). The alias is enough.
            guard let service = secret_service_get_sync(SECRET_SERVICE_NONE, cancellable, &error) else { throw Self.gerror(error) }
            defer { g_object_unref(UnsafeMutableRawPointer(service)) }
            guard let collection = secret_collection_for_alias_sync(service, "default", SECRET_COLLECTION_NONE, cancellable, &error) else {
                if let error { throw Self.gerror(error) }
                return (false, false)
            }
            defer { g_object_unref(UnsafeMutableRawPointer(collection)) }
            return (true, secret_collection_get_locked(collection) != 0)
        }
        guard state.exists else {
            throw Failure.vaultLocked(
                "the Secret Service has no default collection; cpro never creates one: create or set a default keyring (e.g. 'login' in Seahorse), or choose --backend file",
                fr: "le Secret Service n'a pas de collection par défaut ; cpro n'en crée jamais : créez ou désignez un trousseau par défaut (par ex. « login » dans Seahorse), ou choisissez --backend file")
        }
        guard state.locked else { return }
        guard canPrompt else {
            throw Failure.vaultLocked(
                "the default keyring is locked and no desktop session can show the unlock prompt: unlock it (log in to the desktop, or gnome-keyring-daemon --unlock), or choose --backend file",
                fr: "le trousseau par défaut est verrouillé et aucune session de bureau ne peut afficher la demande de déverrouillage : déverrouillez-le (connexion au bureau, ou gnome-keyring-daemon --unlock), ou choisissez --backend file")
        }
        try bounded(unlockTimeout, what: "the keyring's unlock prompt") { cancellable in
            var error: UnsafeMutablePointer<GError>?
            guard let service = secret_service_get_sync(SECRET_SERVICE_NONE, cancellable, &error) else { throw Self.gerror(error) }
            defer { g_object_unref(UnsafeMutableRawPointer(service)) }
            guard let collection = secret_collection_for_alias_sync(service, "default", SECRET_COLLECTION_NONE, cancellable, &error) else {
                throw Self.gerror(error)
            }
            defer { g_object_unref(UnsafeMutableRawPointer(collection)) }
            let objects = g_list_append(nil, UnsafeMutableRawPointer(collection))
            defer { g_list_free(objects) }
            guard secret_service_unlock_sync(service, objects, cancellable, nil, &error) > 0 else {
                throw Failure.vaultLocked("the keyring was not unlocked", fr: "le trousseau n'a pas été déverrouillé")
            }
        }
    }

    // MARK: CredentialStore

    // Each libsecret call may wait on D-Bus, or on a person at an unlock
    // prompt for up to two minutes: on a thread of its own (Blocking).
    package func read(_ profile: ProfileName, _ env: PisteEnvironment) async throws -> Credentials {
        try await Blocking.run { try self.readNow(profile, env) }
    }

    func readNow(_ profile: ProfileName, _ env: PisteEnvironment) throws -> Credentials {
        try defaultCollectionUnlocked()
        var out = Credentials()
        for item in try search(["application": "cpro", "profile": profile.value, "environment": env.rawValue], secrets: true) {
            guard let f = item.attributes["field"].flatMap(StoredField.init(rawValue:)), let secret = item.secret else { continue }
            let setAt = item.attributes["set_at"].flatMap(Int64.init) ?? 0
            if let existing = out.values[f], existing.setAt > setAt { continue }
            out.values[f] = StoredValue(secret, setAt: setAt)
        }
        return try out.checked(kind)
    }

    package func write(_ values: [CredentialKey: StoredValue]) async throws {
        try await Blocking.run { try self.writeNow(values) }
    }

    func writeNow(_ values: [CredentialKey: StoredValue]) throws {
        try defaultCollectionUnlocked()
        if let lockPath {
            try SecureFiles.ensurePrivateDirectory(SecureFiles.dirname(of: lockPath))
            try SecureFiles.withLock(lockPath, timeout: 60) { try store(values) }
        } else {
            try store(values)
        }
    }

    func store(_ values: [CredentialKey: StoredValue]) throws {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            var attrs = Self.attributes(key)
            attrs["set_at"] = String(value.setAt)
            let label = "cpro: \(key.environment.rawValue) / \(key.profile.value) - \(key.field.label(.en))"
            try bounded(readTimeout, what: "storing in the keyring") { cancellable in
                var error: UnsafeMutablePointer<GError>?
                let table = Self.table(attrs)
                defer { g_hash_table_unref(table) }
                let stored = value.secret.withUnsafeBytes { raw -> gboolean in
                    // libsecret takes a NUL-terminated string; values never hold NUL.
                    var copy = Array(raw) + [0]
                    defer { Sodium.memzero(&copy) }
                    return copy.withUnsafeBufferPointer { p in
                        p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: copy.count) {
                            secret_password_storev_sync(Self.schema, table, SECRET_COLLECTION_DEFAULT, label, $0, cancellable, &error)
                        }
                    }
                }
                if stored == 0 { throw Self.gerror(error) }
            }
            // Then remove older items of the same value (an earlier set_at, or
            // none), so the new one is never missing meanwhile; a newer one,
            // stored by a writer with a later clock, stays.
            for old in try search(Self.attributes(key), secrets: false) {
                if let t = old.attributes["set_at"].flatMap(Int64.init), t >= value.setAt {
                    g_object_unref(old.pointer)
                    continue
                }
                try delete(old)
            }
            logger.debug("secret-service: stored \(key)")
        }
    }

    package func remove(_ keys: [CredentialKey]) async throws -> [CredentialKey] {
        try await Blocking.run { try self.removeNow(keys) }
    }

    func removeNow(_ keys: [CredentialKey]) throws -> [CredentialKey] {
        try defaultCollectionUnlocked()
        var removed: [CredentialKey] = []
        for key in keys {
            let items = try search(Self.attributes(key), secrets: false)
            for item in items { try delete(item) }
            if !items.isEmpty { removed.append(key) }
        }
        return removed.sorted()
    }

    package func list() async throws -> [CredentialKey: Int64?] {
        try await Blocking.run { try self.listNow() }
    }

    func listNow() throws -> [CredentialKey: Int64?] {
        try defaultCollectionUnlocked()
        var out: [CredentialKey: Int64?] = [:]
        for item in try search(["application": "cpro"], secrets: false) {
            guard let p = item.attributes["profile"].flatMap({ try? ProfileName($0) }),
                  let e = item.attributes["environment"].flatMap(PisteEnvironment.init(rawValue:)),
                  let f = item.attributes["field"].flatMap(StoredField.init(rawValue:))
            else { continue }
            out[CredentialKey(p, e, f)] = item.attributes["set_at"].flatMap(Int64.init)
        }
        return out
    }

    package func status() async -> BackendStatus {
        (try? await Blocking.run { self.statusNow() }) ?? BackendStatus(backend: kind, location: "Secret Service", state: .unreachable)
    }

    func statusNow() -> BackendStatus {
        let location = "Secret Service, default collection"
        do {
            try serviceOnBus()
        } catch let e as CproError {
            return BackendStatus(backend: kind, location: location, state: .unreachable, problem: e)
        } catch {
            return BackendStatus(backend: kind, location: location, state: .unreachable)
        }
        do {
            try defaultCollectionUnlocked()
            return BackendStatus(backend: kind, location: location, state: .ready)
        } catch let e as CproError {
            return BackendStatus(backend: kind, location: location, state: .locked, problem: e)
        } catch {
            return BackendStatus(backend: kind, location: location, state: .locked)
        }
    }

    // MARK: items

    struct Item {
        let pointer: UnsafeMutableRawPointer  // a SecretItem (SecretRetrievable), owned by us
        let attributes: [String: String]
        let secret: SecretBytes?
    }

    /// Every search carries `application=cpro`: items of other programs that
    /// happen to use the same attribute names are never read nor deleted.
    static func attributes(_ key: CredentialKey) -> [String: String] {
        ["application": "cpro", "profile": key.profile.value, "environment": key.environment.rawValue, "field": key.field.rawValue]
    }

    static func table(_ attrs: [String: String]) -> OpaquePointer {
        let t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)!
        for (k, v) in attrs { g_hash_table_insert(t, g_strdup(k), g_strdup(v)) }
        return t
    }

    func search(_ attrs: [String: String], secrets: Bool) throws -> [Item] {
        try bounded(readTimeout, what: "searching the keyring") { cancellable in
            var error: UnsafeMutablePointer<GError>?
            let table = Self.table(attrs)
            defer { g_hash_table_unref(table) }
            let flags = SecretSearchFlags(rawValue: SECRET_SEARCH_ALL.rawValue | (secrets ? SECRET_SEARCH_LOAD_SECRETS.rawValue : 0))
            let list = secret_password_searchv_sync(Self.schema, table, flags, cancellable, &error)
            if let error { throw Self.gerror(error) }
            defer { g_list_free(list) }
            var items: [Item] = []
            var node = list
            while let n = node {
                if let data = n.pointee.data {
                    let retrievable = OpaquePointer(data)
                    var attrs: [String: String] = [:]
                    if let t = secret_retrievable_get_attributes(retrievable) {
                        for name in ["application", "profile", "environment", "field", "set_at"] {
                            if let v = g_hash_table_lookup(t, name) { attrs[name] = String(cString: v.assumingMemoryBound(to: CChar.self)) }
                        }
                        g_hash_table_unref(t)
                    }
                    var secret: SecretBytes?
                    if secrets {
                        var e: UnsafeMutablePointer<GError>?
                        if let value = secret_retrievable_retrieve_secret_sync(retrievable, cancellable, &e) {
                            var length = 0
                            if let bytes = secret_value_get(value, &length) {
                                secret = SecretBytes(copying: UnsafeRawBufferPointer(start: bytes, count: length))
                            }
                            secret_value_unref(UnsafeMutableRawPointer(value))
                        } else if let e {
                            g_error_free(e)
                        }
                    }
                    items.append(Item(pointer: data, attributes: attrs, secret: secret))
                }
                node = n.pointee.next
            }
            return items
        }
    }

    func delete(_ item: Item) throws {
        defer { g_object_unref(item.pointer) }
        try bounded(readTimeout, what: "removing from the keyring") { cancellable in
            var error: UnsafeMutablePointer<GError>?
            if secret_item_delete_sync(OpaquePointer(item.pointer), cancellable, &error) == 0 {
                // Already gone (another program, outside cpro's lock) is what a delete wants.
                if Self.vanished(error) {
                    g_error_free(error)
                    return
                }
                throw Self.gerror(error)
            }
        }
    }

    /// The Secret Service's NoSuchObject: the item is not (or no longer) there.
    static func vanished(_ error: UnsafeMutablePointer<GError>?) -> Bool {
        guard let error else { return false }
        if error.pointee.domain == secret_error_get_quark() && error.pointee.code == Int32(SECRET_ERROR_NO_SUCH_OBJECT.rawValue) {
            return true
        }
        return String(cString: error.pointee.message).hasPrefix("No such secret item")
    }

    // MARK: plumbing

    static func gerror(_ error: UnsafeMutablePointer<GError>?) -> Failure {
        let text = error.map { String(cString: $0.pointee.message) } ?? "unknown error"
        if let error { g_error_free(error) }
        return Failure.vaultLocked("the Secret Service failed: \(text)", fr: "le Secret Service a échoué : \(text)")
    }

    /// libsecret is loaded on first use, so that commands on other backends
    /// never pay for it; a machine without it gets the package to install.
    static func loadLibrary() throws {
        guard cpro_libsecret_load() != 0 else { return }
        let why = String(cString: cpro_libsecret_error())
        throw Failure.vaultLocked(
            "the secret-service backend needs libsecret, which could not be loaded (\(why)); install it (Debian, Ubuntu: apt install libsecret-1-0) or choose --backend file",
            fr: "le backend secret-service a besoin de libsecret, qui n'a pas pu être chargée (\(why)) ; installez-la (Debian, Ubuntu : apt install libsecret-1-0) ou choisissez --backend file")
    }

    /// Runs a blocking libsecret or GDBus call on its own thread; past the
    /// timeout the call is cancelled and a clear error says what hung.
    func bounded<T>(_ seconds: Double, what: String, _ body: @escaping (OpaquePointer?) throws -> T) throws -> T {
        try Self.loadLibrary()
        let cancellable = g_cancellable_new()
        defer { g_object_unref(UnsafeMutableRawPointer(cancellable)) }
        let box = ResultBox<T>()
        box.body = body
        box.cancellable = cancellable
        let done = DispatchSemaphore(value: 0)
        if let error = Blocking.detach({
            do { box.result = .success(try box.body!(box.cancellable)) } catch { box.result = .failure(error) }
            done.signal()
        }) {
            throw error
        }
        if done.wait(timeout: .now() + seconds) == .timedOut {
            g_cancellable_cancel(cancellable)
            _ = done.wait(timeout: .now() + 2)
            throw Failure.vaultLocked(
                "\(what) did not answer within \(Int(seconds)) s; nothing was changed. Check that the keyring is running and unlocked, or choose --backend file",
                fr: "\(what) n'a pas répondu en \(Int(seconds)) s ; rien n'a été modifié. Vérifiez que le trousseau fonctionne et est déverrouillé, ou choisissez --backend file")
        }
        return try box.result!.get()
    }

    /// Hands the call and its outcome across the worker thread. Unchecked
    /// because the call captures GLib pointers, which are not Sendable; what
    /// makes it safe: the caller writes `body` and `cancellable` before
    /// starting the thread (pthread_create orders them for it), the thread writes
    /// `result` before `signal`, and the caller reads it only after a `wait`
    /// that did not time out. After a timeout nothing reads the box again.
    final class ResultBox<T>: @unchecked Sendable {
        var body: ((OpaquePointer?) throws -> T)?
        var cancellable: OpaquePointer?
        var result: Result<T, Error>?
    }
}
#endif
