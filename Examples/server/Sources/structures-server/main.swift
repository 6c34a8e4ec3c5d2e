import ArgumentParser
import CproKit
import Foundation
import Hummingbird
import Logging

/// GET /structures: the linked structures of the selected profile and
/// environment (CPRO_PROFILE, CPRO_ENV, or the flags), as JSON.
@main
struct StructuresServer: AsyncParsableCommand {
    @Option(help: "Port to listen on (127.0.0.1).")
    var port = 8080

    @Option(help: "Profile (default: $CPRO_PROFILE or 'default').")
    var profile: String?

    @Option(name: .customLong("env"), help: "Environment: sandbox or production (default: $CPRO_ENV or sandbox).")
    var environment: String?

    func run() async throws {
        var logger = Logger(label: "structures-server")
        logger.logLevel = .info
        // One client for the whole server: it shares one token among all
        // requests (and with every cpro process of the user).
        let cpro = try CproClient(profile: profile, environment: environment, logger: logger)
        let router = Router()
        router.get("structures") { _, _ -> Response in
            do {
                let structures = try await cpro.linkedStructures()
                return Self.json(.ok, try JSONEncoder().encode(structures))
            } catch let error as CproError {
                // The library renders nothing itself: the application chooses
                // the language (and what to show of a failure).
                var object = ["error": error.message(.en)]
                if let d = error.diagnosis { object["diagnosis"] = d.rawValue }
                return Self.json(.badGateway, try JSONEncoder().encode(object))
            }
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "structures-server"),
            logger: logger)
        logger.info("serving GET /structures for \(cpro.selection) on 127.0.0.1:\(port)")
        try await app.runService()
    }

    static func json(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
