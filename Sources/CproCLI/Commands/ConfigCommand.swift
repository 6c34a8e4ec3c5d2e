import ArgumentParser
import CproCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `cpro config`: the non-secret settings, so nobody has to hand-edit TOML.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Read and change the non-secret settings of the selected profile and environment.",
        discussion: """
            Keys of the selected profile and environment: \(ConfigKey.scoped.joined(separator: ", ")). \
            Keys for every profile: \(ConfigKey.global.joined(separator: ", ")). Each value is checked \
            as cpro reads it; the file is changed under its lock, atomically, and its comments are kept. \
            See docs/configuration.md.
            """,
        subcommands: [ConfigGet.self, ConfigSet.self, ConfigUnset.self, ConfigList.self])

    @OptionGroup var globals: GlobalOptions
}

/// Where each key lives in config.toml, and how its text becomes a value.
enum ConfigKey {
    static let scoped = ["siret", "api_url", "oauth_url", "tech_password_changed_at", "tech_password_rotation_days"]
    static let global = ["backend", "token_refresh_margin", "agent", "openbao_addr", "openbao_mount", "openbao_prefix", "openbao_namespace"]
    static let integers: Set<String> = ["tech_password_rotation_days", "token_refresh_margin"]
    static let booleans: Set<String> = ["agent"]

    static func section(_ key: String, _ ctx: Context) throws -> [String] {
        if scoped.contains(key) { return Config.section(ctx.profile, ctx.pisteEnvironment) }
        if global.contains(key) { return [] }
        let all = (scoped + global).joined(separator: ", ")
        // A near miss is a typo and may be shown; anything else could be a secret typed in the wrong place.
        if let near = Suggestion.closest(to: key, among: ConfigKey.scoped + ConfigKey.global) {
            throw Failure("unknown setting \(key); did you mean \(near)? Settings are \(all)",
                          fr: "réglage inconnu \(key) ; vouliez-vous dire \(near) ? Les réglages sont \(all)").usage
        }
        throw Failure("unknown setting; settings are \(all)", fr: "réglage inconnu ; les réglages sont \(all)").usage
    }

    static func value(_ key: String, _ text: String) throws -> Config.Value {
        if integers.contains(key) {
            guard let n = Int(text) else { throw Failure("\(key) must be a whole number", fr: "\(key) doit être un nombre entier") }
            return .integer(n)
        }
        if booleans.contains(key) {
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw Failure("\(key) must be true or false", fr: "\(key) doit valoir true ou false")
            }
        }
        if key == "siret" { return .string(try SIRET.validate(text)) }
        return .string(text)
    }

    static func text(_ v: Config.Value) -> String {
        switch v {
        case .string(let s): s
        case .integer(let i): String(i)
        case .bool(let b): b ? "true" : "false"
        }
    }

    static func scope(_ key: String, _ ctx: Context) -> String {
        scoped.contains(key) ? "\(ctx.profile.value).\(ctx.pisteEnvironment.rawValue)" : "global"
    }
}

struct ConfigGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Print one setting's value (exit 1 when it is not set).")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The setting's name.", completion: .list(ConfigKey.scoped + ConfigKey.global)) var key: String

    func run() async throws {
        let ctx = try Context(globals)
        let value = ctx.settings.config.values[try ConfigKey.section(key, ctx)]?[key]
        if ctx.output.json {
            ctx.output.json(ConfigGetJSON(key: key, value: ConfigValueJSON(value: value), scope: ConfigKey.scope(key, ctx)))
        } else if let value {
            ctx.output.data(ConfigKey.text(value) + "\n")
        }
        if value == nil {
            ctx.output.say("\(key) is not set for \(ConfigKey.scope(key, ctx))", "\(key) n'est pas défini pour \(ConfigKey.scope(key, ctx))")
            throw ExitCode(1)
        }
    }
}

struct ConfigSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set one setting; the value is checked first, and nothing is written if it is refused.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The setting's name.", completion: .list(ConfigKey.scoped + ConfigKey.global)) var key: String
    @Argument(help: "Its value (never a secret: settings are not secret).") var value: String

    func run() async throws {
        let ctx = try Context(globals)
        let section = try ConfigKey.section(key, ctx)
        let parsed = try ConfigKey.value(key, value)
        try Settings.updateConfig(ctx.settings.paths) { config in
            try config.set(key, parsed, in: section)
        }
        ctx.output.say("\(key) = \(ConfigKey.text(parsed)) (\(ConfigKey.scope(key, ctx)))", "\(key) = \(ConfigKey.text(parsed)) (\(ConfigKey.scope(key, ctx)))")
    }
}

struct ConfigUnset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unset", abstract: "Remove one setting (its default applies again).")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The setting's name.", completion: .list(ConfigKey.scoped + ConfigKey.global)) var key: String

    func run() async throws {
        let ctx = try Context(globals)
        let section = try ConfigKey.section(key, ctx)
        try Settings.updateConfig(ctx.settings.paths) { config in
            try config.set(key, nil, in: section)
        }
    }
}

struct ConfigList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every setting of the selection, set or not, with the effective endpoints.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        let config = ctx.settings.config
        var rows: [(String, Config.Value?, String)] = []
        for key in ConfigKey.scoped + ConfigKey.global {
            let value = config.values[try ConfigKey.section(key, ctx)]?[key]
            rows.append((key, value, ConfigKey.scope(key, ctx)))
        }
        let endpoints = try ctx.settings.endpoints(ctx.profile, ctx.pisteEnvironment)
        if ctx.output.json {
            ctx.output.json(ConfigListJSON(
                profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue, file: ctx.settings.paths.configFile,
                settings: Dictionary(uniqueKeysWithValues: rows.map { ($0.0, ConfigValueJSON(value: $0.1)) }),
                effective: ["oauth_url": endpoints.oauthURL, "api_url": endpoints.apiURL]))
            return
        }
        for (key, value, scope) in rows {
            ctx.output.data("\(key.padded(to: 28)) \(value.map(ConfigKey.text) ?? "-")  (\(scope))\n")
        }
        ctx.output.say("in use: \(endpoints.tokenEndpointNote.en); \(endpoints.apiEndpointNote.en)",
                       "utilisés : \(endpoints.tokenEndpointNote.fr) ; \(endpoints.apiEndpointNote.fr)")
    }
}
