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
}
