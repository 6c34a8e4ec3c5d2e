import ArgumentParser
import CproCore

/// Options accepted before or after any subcommand. Declared on the root, on
/// each group and on each leaf (see swift-linux-notes): the leaf then sees a
/// value given anywhere in the chain.
package struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "Profile: a named set of credentials (default: $CPRO_PROFILE or 'default').")
    var profile: String?

    @Option(name: .customLong("env"), help: "Environment: sandbox or production (default: $CPRO_ENV or sandbox).",
            completion: .list(["sandbox", "production"]))
    var environment: String?

    @Option(name: .long, help: "Backend: file, secret-service, openbao or env (default: $CPRO_BACKEND, then the config, then file).",
            completion: .list(["file", "secret-service", "openbao", "env"]))
    var backend: String?

    @Flag(name: .long, help: "Machine-readable output on stdout; messages for people go to stderr.")
    var json = false

    @Flag(name: .long, help: "Tell what cpro does, on stderr (never a secret).")
    var verbose = false

    @Flag(name: .long, help: "Do not ask the session agent for the file vault's key (see `cpro vault unlock`).")
    var noAgent = false

    @Option(name: .long, help: "Language of messages: en or fr (default: from LC_ALL, LC_MESSAGES, LANG).",
            completion: .list(["en", "fr"]))
    var lang: String?

    package init() {}
}
