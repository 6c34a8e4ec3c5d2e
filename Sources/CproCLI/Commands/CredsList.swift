import ArgumentParser
import CproCore
import CproVault

struct CredsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Profiles, environments and which fields are set; never a value.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        let store = try ctx.store()
        let listed = try await store.list()
        var rows: [Selection: [StoredField: Int64?]] = [:]
        for (key, setAt) in listed { rows[key.selection, default: [:]][key.field] = setAt }
        // Profiles that only have settings in the config still appear, empty.
        for p in ctx.settings.config.profiles {
            for e in PisteEnvironment.allCases where ctx.settings.config.values[Config.section(p, e)] != nil {
                rows[Selection(p, e), default: [:]] = rows[Selection(p, e)] ?? [:]
            }
        }
        let order = rows.keys.sorted()

        if ctx.output.json {
            let entries = order.map { selection in
                let set = rows[selection]!
                var fields: [String: CredsListJSON.Field] = [:]
                for f in StoredField.allCases {
                    fields[f.rawValue] = .init(set: set[f] != nil, setAt: set[f].flatMap { $0 }?.rfc3339)
                }
                return CredsListJSON.Entry(profile: selection.profile.value, environment: selection.environment.rawValue, fields: fields)
            }
            ctx.output.json(CredsListJSON(backend: store.kind.rawValue, entries: entries))
            return
        }
        if order.isEmpty {
            ctx.output.say(
                "No credentials stored yet (\(store.kind.rawValue) backend). Start with `cpro creds set` or `cpro onboard`.",
                "Aucun identifiant enregistré (backend \(store.kind.rawValue)). Commencez par `cpro creds set` ou `cpro onboard`.")
            return
        }
        let header = ["PROFILE", "ENVIRONMENT"] + StoredField.allCases.map { $0.rawValue.uppercased() }
        var table = [header]
        for selection in order {
            let set = rows[selection]!
            table.append([selection.profile.value, selection.environment.rawValue] + StoredField.allCases.map { f in
                guard let when = set[f] else { return "-" }
                return when.map { String($0.rfc3339.prefix(10)) } ?? "set"
            })
        }
        let widths = (0..<header.count).map { c in table.map { $0[c].count }.max()! }
        for row in table {
            ctx.output.data(row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell.padded(to: widths[c] + 2)
            }.joined() + "\n")
        }
    }
}
