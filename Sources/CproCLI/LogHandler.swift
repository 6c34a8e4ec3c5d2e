import Logging

/// `--verbose` lines on stderr, short enough to read in a terminal. Callers log
/// what cpro does (paths, counts, timings), never a value.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        Output.write(2, Array("cpro: [\(level)] \(message)\n".utf8))
    }
}
