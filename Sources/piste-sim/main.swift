import ArgumentParser
import CCproBuild
import Foundation
import PisteSim

@main
struct PisteSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "piste-sim",
        abstract: "A local stand-in for PISTE's OAuth and the Chorus Pro endpoints that cpro uses, for offline tests.",
        usage: "piste-sim [--port <port>] [--host <host>] [--config <config>] [--port-file <port-file>]",
        discussion: """
            Serves POST /api/oauth/token and /cpro/... on 127.0.0.1. At start-up it prints the test \
            credentials it accepts (client ID 5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c, client secret \
            sim-client-secret-8c41, technical login TECH_1_00000000000000@cpro.fr, technical password \
            sim-tech-password-Ü7, unless --config replaces them) and the two export lines that point \
            cpro at it. Behaviours (invalid client, \
            403, technical account rejected, codeRetour errors, 5xx, 429, slow or malformed answers, \
            short-lived tokens) are switched at run time with POST /_sim/config; GET /_sim/stats \
            counts requests. See docs/piste-sim.md.
            """,
        version: versionLine)

    static var versionLine: String {
        let commit = String(cString: cpro_build_commit())
        return "piste-sim \(CPRO_VERSION) (\(commit.isEmpty ? "commit not recorded: a build from source" : "commit \(commit)"))"
    }

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 8080

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "A JSON file {\"clients\": {ID: SECRET}, \"accounts\": {LOGIN: PASSWORD}} replacing the built-in test credentials.")
    var config: String?

    @Option(help: "Write the bound port to this file once listening.")
    var portFile: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0 (a free port) to 65535") }
    }

    func run() async throws {
        let sim = Simulator()
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("\(config) cannot be read")
            }
            let (ok, message) = await sim.configure(json: data)
            guard ok else { throw ValidationError("\(config): \(message)") }
        }
        let portFile = portFile
        let host = host
        // A simulator holds nothing worth flushing: SIGTERM and SIGINT end it
        // at once (_exit is safe in a signal handler), whatever connections
        // are open.
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in _exit(0) }
        let clients = await sim.clients.sorted { $0.key < $1.key }
        let accounts = await sim.accounts.sorted { $0.key < $1.key }
        do {
            try await SimulatorServer(simulator: sim, host: host, port: port).run { bound in
                if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                // Unbuffered, so a test reading the pipe sees the lines at once.
                FileHandle.standardOutput.write(Data(Self.banner(host: host, port: bound, clients: clients, accounts: accounts).utf8))
            }
        } catch where "\(error)".contains("Address already in use") || "\(error)".contains("errno: 98") {
            FileHandle.standardError.write(Data("""
                piste-sim: port \(port) on \(host) is already in use (another piste-sim?); choose another with --port N, or --port 0 for a free one

                """.utf8))
            throw ExitCode(1)
        }
    }

    /// What a first try needs: where it listens, the test credentials it
    /// accepts (test values, never real ones) and the two variables that
    /// point cpro at it.
    static func banner(host: String, port: Int, clients: [(key: String, value: String)], accounts: [(key: String, value: String)]) -> String {
        let h = host.contains(":") ? "[\(host)]" : host
        var out = "piste-sim listening on http://\(h):\(port)\n"
        // A wildcard address listens on loopback too; cpro takes plain http to loopback only.
        let reach = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "[::1]" : h
        if let client = clients.first, let account = accounts.first {
            out += """
                Test credentials (for cpro creds set, or cpro onboard):
                  client-id      \(client.key)
                  client-secret  \(client.value)
                  tech-login     \(account.key)
                  tech-password  \(account.value)

                """
        }
        out += """
            Point cpro at it, in the shell where you run cpro:
              export PISTE_OAUTH_URL=http://\(reach):\(port)
              export CPRO_API_URL=http://\(reach):\(port)/cpro

            """
        return out
    }
}
