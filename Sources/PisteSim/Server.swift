import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

struct SimulatedReset: Error {}

/// Serves a `Simulator` over HTTP/1.1 with Hummingbird.
package struct SimulatorServer: Sendable {
    package let simulator: Simulator
    package let host: String
    package let port: Int

    package init(simulator: Simulator, host: String = "127.0.0.1", port: Int = 0) {
        self.simulator = simulator
        self.host = host
        self.port = port
    }

    /// Runs until cancelled; `onListening` gets the bound port (useful with port 0).
    package func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        let sim = simulator
        let handler: @Sendable (Hummingbird.Request, BasicRequestContext) async throws -> Hummingbird.Response = { request, _ in
            let admin = request.uri.path.hasPrefix("/_sim/")
            if !admin { await sim.enter() }
            defer { if !admin { Task { await sim.leave() } } }
            let body = try await request.body.collect(upTo: 4 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = await sim.handle(Simulator.Request(
                method: request.method.rawValue, path: request.uri.path, headers: headers,
                body: Array(buffer: body)))
            if answer.delayMs > 0 { try await Task.sleep(nanoseconds: UInt64(answer.delayMs) * 1_000_000) }
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let n = HTTPField.Name(name) { fields[n] = value }
            }
            if let cut = answer.resetAfterBytes {
                // Headers and the first bytes go out, then the connection drops.
                let head = Array(answer.body.prefix(cut))
                fields[.contentLength] = String(answer.body.count)
                return Hummingbird.Response(status: .init(code: answer.status), headers: fields, body: .init { writer in
                    try await writer.write(ByteBuffer(bytes: head))
                    throw SimulatedReset()
                })
            }
            return Hummingbird.Response(
                status: .init(code: answer.status), headers: fields,
                body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
        router.get("**", use: handler)
        router.post("**", use: handler)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "piste-sim"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: { var l = Logger(label: "piste-sim"); l.logLevel = .warning; return l }())
        // No graceful shutdown: it waits for every keep-alive connection to
        // close, and a client that keeps one open (a test's URLSession) would
        // leave the simulator running after SIGTERM. The executable exits on
        // the signal instead (piste-sim's main); an embedding test cancels.
        try await app.runService(gracefulShutdownSignals: [])
    }
}
