import ArgumentParser
import CproCore
import CproVault

struct CredsRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove fields (all four when none is named) of the selected profile and environment.")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "client-id, client-secret, tech-login, tech-password (default: all four).",
              completion: .list(StoredField.allCases.map(\.rawValue)))
    var fields: [String] = []

    func run() async throws {
        let ctx = try Context(globals)
        let targets = try storedFields(fields, allWhenEmpty: true)
        let store = try ctx.store()
        let removed = try await store.remove(targets.map(ctx.key)).map(\.field.rawValue)
        try forgetSettings(of: removed, ctx)
        if ctx.output.json {
            ctx.output.json(CredsRemovedJSON(removed: removed, profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue))
        } else if removed.isEmpty {
            ctx.output.say("Nothing to remove for \(ctx.selection).", "Rien à supprimer pour \(ctx.selection).")
        } else {
            ctx.output.say(
                "Removed \(removed.joined(separator: ", ")) for \(ctx.selection).",
                "Supprimé : \(removed.joined(separator: ", ")) pour \(ctx.selection).")
        }
    }

    /// What the config says about removed values goes with them: the
    /// technical password's declared change date (a new password would
    /// inherit the old one's rotation date) and their `unverified` marks.
    func forgetSettings(of removed: [String], _ ctx: Context) throws {
        guard !removed.isEmpty else { return }
        let (profile, env) = (ctx.profile, ctx.pisteEnvironment)
        let config = try Settings.loadConfig(ctx.settings.paths)
        let dated = removed.contains(StoredField.techPassword.rawValue) && config.environmentValue(profile, env, "tech_password_changed_at") != nil
        var marks: Set<String> = []
        if case .string(let s)? = config.environmentValue(profile, env, "unverified") { marks = Set(s.split(separator: ",").map(String.init)) }
        guard dated || !marks.isDisjoint(with: removed) else { return }
        try Settings.updateConfig(ctx.settings.paths) { config in
            if dated { try config.set("tech_password_changed_at", nil, in: Config.section(profile, env)) }
            var latest = Set<String>()
            if case .string(let s)? = config.environmentValue(profile, env, "unverified") { latest = Set(s.split(separator: ",").map(String.init)) }
            latest.subtract(removed)
            let value = latest.sorted().joined(separator: ",")
            try config.set("unverified", value.isEmpty ? nil : .string(value), in: Config.section(profile, env))
        }
    }
}
