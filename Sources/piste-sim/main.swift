import ArgumentParser
import CCproBuild
import Foundation
import PisteSim

@main
struct PisteSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "piste-sim",
        abstract: "A local stand-in for PISTE's OAuth and the Chorus Pro endpoints that cpro uses, for offline tests.",
        discussion: """
            Serves POST /api/oauth/token and /cpro/... on 127.0.0.1. Behaviours (invalid client, \
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
        try await SimulatorServer(simulator: sim, host: host, port: port).run { bound in
            if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            // Unbuffered, so a test reading the pipe sees the line at once.
            FileHandle.standardOutput.write(Data("piste-sim listening on http://\(host):\(bound)\n".utf8))
        }
    }
}
