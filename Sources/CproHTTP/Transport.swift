import AsyncHTTPClient
import CproCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

package struct HTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(String, String)]
    package var body: [UInt8]

    package init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)]
    package var body: [UInt8]

    package init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// What the wire needs from HTTP: one request, one answer. async-http-client in
/// production; tests may put anything behind it.
package protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
    /// Seconds left of the command's time budget, nil for none: retries never
    /// wait past it.
    var remainingTime: Double? { get }
}

extension HTTPTransport {
    package var remainingTime: Double? { nil }
}

/// Text from a server (an error, a header, a libelle, a structure's name), made
/// safe to show to people: one line, no C0 or C1 control characters (no
/// terminal escapes, including 8-bit CSI), no bidirectional overrides or
/// isolates (which can make a terminal line read differently), bounded.
package enum ServerText {
    static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0..<0x20, 0x7F...0x9F: true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    package static func oneLine(_ s: String, limit: Int = 200) -> String {
        let line = String(s.unicodeScalars.map { isUnsafe($0) ? " " : Character($0) })
        return line.count > limit ? String(line.prefix(limit)) + "…" : line
    }
}

/// An answer larger than cpro reads. No PISTE or OpenBao answer comes near
/// it, so it is a wrong answer (a proxy's page, another server), not a
/// network failure, and sending again would only fetch it again.
package struct OversizedAnswer: CproError {
    package let host: String
    package let limit: Int
    package var diagnosis: Diagnosis? { .unexpectedResponse }
    package func message(_ lang: Language) -> String {
        lang.pick(
            "\(host) sent an answer larger than \(limit >> 20) MiB, which no PISTE service sends (a proxy's page, or another server?); it was not read",
            "\(host) a envoyé une réponse de plus de \(limit >> 20) Mio, ce qu'aucun service PISTE n'envoie (la page d'un proxy, ou un autre serveur ?) ; elle n'a pas été lue")
    }
}

/// A failure to get any answer, classified for people: DNS, refused, timeout, TLS.
package struct TransportError: Error, Sendable {
    package enum Kind: String, Sendable { case dns, refused, timeout, tls, other }
    package let kind: Kind
    package let host: String
    package let detail: String
    /// False only when the request surely never left this machine (no
    /// connection was opened, or TLS failed before any byte of it was sent).
    package let mayHaveReachedServer: Bool

    package init(kind: Kind, host: String, detail: String, mayHaveReachedServer: Bool) {
        self.kind = kind
        self.host = host
        self.detail = detail
        self.mayHaveReachedServer = mayHaveReachedServer
    }
}

/// async-http-client with bounded connect and read times, a time budget for
/// the whole command (`CPRO_TIMEOUT`, 8 s by default: under what monitoring systems
/// allow a check), the proxy from
/// `https_proxy`/`no_proxy`, and extra trusted roots from a CA file variable
/// (`CPRO_CA_FILE` for PISTE; OpenBao's own `BAO_CACERT`/`VAULT_CACERT`).
package struct AHCTransport: HTTPTransport {
    let environment: [String: String]
    let caFileVariables: [String]
    let budget: Budget
    /// The host application's own client (CproKit), used as it is configured:
    /// its proxy, its trusted roots, its timeouts.
    let provided: HTTPClient?

    /// Starts at the first request, so a passphrase typed slowly costs nothing.
    final class Budget: Sendable {
        let seconds: Int64
        private let deadline = Mutex<NIODeadline?>(nil)
        init(seconds: Int64) { self.seconds = seconds }
        func start() -> NIODeadline {
            deadline.withLock { deadline in
                if let deadline { return deadline }
                let d = NIODeadline.now() + .seconds(seconds)
                deadline = d
                return d
            }
        }
        var remaining: Double {
            let d = deadline.withLock { $0 } ?? (.now() + .seconds(seconds))
            return Double((d - .now()).nanoseconds) / 1e9
        }
    }

    package static let defaultBudgetSeconds: Int64 = 8
    /// The most of an answer's body that is read.
    package static let answerLimit = 8 << 20

    /// One transport per command: its requests share the budget. An invalid
    /// `CPRO_TIMEOUT` is refused by `budgetSeconds`, which commands call first.
    package init(environment: [String: String], caFileVariables: [String] = ["CPRO_CA_FILE"], client: HTTPClient? = nil) {
        self.environment = environment
        self.caFileVariables = caFileVariables
        self.provided = client
        self.budget = Budget(seconds: (try? Self.budgetSeconds(environment)) ?? Self.defaultBudgetSeconds)
    }

    package static func budgetSeconds(_ environment: [String: String]) throws -> Int64 {
        guard let raw = environment["CPRO_TIMEOUT"], !raw.isEmpty else { return defaultBudgetSeconds }
        guard let n = Int64(raw), n > 0, n <= 86_400 else {
            throw Failure("CPRO_TIMEOUT must be a number of seconds between 1 and 86400",
                          fr: "CPRO_TIMEOUT doit être un nombre de secondes entre 1 et 86400")
        }
        return n
    }

    package var remainingTime: Double? { budget.remaining }

    /// One client per process and per proxy choice, never shut down: the
    /// process exit ends it, and a static never reaches HTTPClient's deinit check.
    static let clients = Mutex<[String: HTTPClient]>([:])

    func client(for host: String) throws -> HTTPClient {
        if let provided { return provided }
        let proxy = Self.proxy(for: host, environment: environment)
        let caVariable = caFileVariables.first { !(environment[$0] ?? "").isEmpty }
        let caFile = caVariable.flatMap { environment[$0] }
        let readTimeout = environment["CPRO_HTTP_TIMEOUT"].flatMap(Int64.init) ?? 8
        let key = "\(proxy.map { "\($0.host):\($0.port)" } ?? "-")|\(caFile ?? "-")|\(readTimeout)"
        return try Self.clients.withLock { clients in
            if let c = clients[key] { return c }
            var config = HTTPClient.Configuration()
            config.timeout = .init(connect: .seconds(min(readTimeout, 5)), read: .seconds(readTimeout))
            // A refused connection fails at once; our own retries decide what
            // happens next (the pool would retry it until the connect timeout).
            config.connectionPool.retryConnectionEstablishment = false
            config.redirectConfiguration = .disallow
            if let proxy { config.proxy = .server(host: proxy.host, port: proxy.port) }
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else {
                    throw Failure("\(caVariable ?? "") \(caFile) cannot be read", fr: "\(caVariable ?? "") \(caFile) est illisible")
                }
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.additionalTrustRoots = [.file(caFile)]
                config.tlsConfiguration = tls
            }
            let c = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            clients[key] = c
            return c
        }
    }

    static func proxy(for host: String, environment env: [String: String]) -> (host: String, port: Int)? {
        let noProxy = (env["no_proxy"] ?? env["NO_PROXY"] ?? "").split(separator: ",").map {
            $0.trimmed().lowercased()
        }
        let h = host.lowercased()
        if WebURL.isLoopback(h) { return nil }
        for entry in noProxy where !entry.isEmpty {
            if entry == "*" { return nil }
            let suffix = entry.hasPrefix(".") ? entry : "." + entry
            if h == entry || h.hasSuffix(suffix) { return nil }
        }
        guard let raw = env["https_proxy"] ?? env["HTTPS_PROXY"], !raw.isEmpty,
              let url = URL(string: raw.contains("://") ? raw : "http://" + raw), let proxyHost = url.host
        else { return nil }
        return (proxyHost, url.port ?? 3128)
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try LoopbackOwner.check(request.url)
        let host = URL(string: request.url)?.host ?? request.url
        var r = HTTPClientRequest(url: request.url)
        r.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { r.headers.add(name: name, value: value) }
        if !request.body.isEmpty { r.body = .bytes(ByteBuffer(bytes: request.body)) }
        do {
            let client = try client(for: host)
            let deadline = budget.start()
            guard deadline > .now() else {
                throw TransportError(kind: .timeout, host: host, detail: "time budget spent", mayHaveReachedServer: false)
            }
            let until = min(deadline, .now() + .seconds(120))
            let response = try await client.execute(r, deadline: until)
            // The deadline above ends at the head; a body trickled one byte at
            // a time would reset the read timeout forever, so it gets its own.
            let body: ByteBuffer
            do {
                body = try await Self.withDeadline(until, host: host) { try await response.body.collect(upTo: Self.answerLimit) }
            } catch is NIOTooManyBytesError {
                throw OversizedAnswer(host: host, limit: Self.answerLimit)
            }
            return HTTPResponse(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                body: Array(buffer: body))
        } catch let e as CproError {
            throw e
        } catch let e as TransportError {
            throw e
        } catch {
            throw Self.classify(error, host: host)
        }
    }

    /// `work`, or a timeout once `deadline` has passed (the work is cancelled,
    /// which makes async-http-client drop the connection).
    static func withDeadline<T: Sendable>(_ deadline: NIODeadline, host: String, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                let wait = (deadline - .now()).nanoseconds
                if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait)) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw TransportError(kind: .timeout, host: host, detail: "the answer's body did not arrive within the time budget", mayHaveReachedServer: true)
            }
            return value
        }
    }

    static func classify(_ error: Error, host: String) -> TransportError {
        let text = String(describing: error)
        let type = String(reflecting: Swift.type(of: error))
        func make(_ kind: TransportError.Kind, sent: Bool) -> TransportError {
            TransportError(kind: kind, host: host, detail: text, mayHaveReachedServer: sent)
        }
        if let e = error as? HTTPClientError {
            if e == .connectTimeout { return make(.timeout, sent: false) }
            if [.readTimeout, .deadlineExceeded].contains(e) { return make(.timeout, sent: true) }
        }
        if text.contains("connectTimeout") { return make(.timeout, sent: false) }
        if text.contains("Timeout") { return make(.timeout, sent: true) }
        // The request is written only after the handshake: a TLS failure never carried it.
        if type.contains("SSL") || text.contains("SSL") || text.contains("certificate") || text.contains("handshake") {
            return make(.tls, sent: false)
        }
        if text.contains("dns") || text.contains("DNS") || text.contains("NXDOMAIN") || text.contains("resolve") {
            return make(.dns, sent: false)
        }
        if text.contains("refused") || text.contains("errno: 111") || text.contains("Connection refused") {
            return make(.refused, sent: false)
        }
        return make(.other, sent: true)
    }
}
