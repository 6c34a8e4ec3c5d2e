import ArgumentParser
import CproCore

package struct Cpro: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "cpro",
        abstract: "Keeps the Chorus Pro API credentials (PISTE OAuth client and technical account) safe and working.",
        discussion: """
            New? Run `cpro onboard`: it walks the set-up steps, checks each credential and saves it. \
            Credentials are stored per profile and environment (sandbox, production) in an encrypted \
            vault (the default), and handed to other tools without ever appearing in a command line. \
            Guides: /usr/share/doc/cpro/docs/getting-started.md (and troubleshooting.md beside it; \
            docs/ in a source tree); a manual page per command (man cpro-onboard).
            """,
        version: BuildInfo.line("cpro"),
        subcommands: [Creds.self, Vault.self, ConfigCommand.self, TokenCommand.self, HealthCommand.self, Onboard.self, Exec.self, Api.self, AgentCommand.self])

    @OptionGroup var globals: GlobalOptions

    package init() {}
}

struct Creds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "creds",
        abstract: "Store, read, list and remove the four credentials.",
        subcommands: [CredsSet.self, CredsGet.self, CredsList.self, CredsRemove.self, CredsImport.self, CredsExport.self, CredsMigrate.self, CredsRotate.self])

    @OptionGroup var globals: GlobalOptions
}

struct Vault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Create the file vault, show the backend's state, change the vault passphrase, unlock it for a session.",
        subcommands: [VaultInit.self, VaultStatus.self, VaultPasswd.self, VaultUnlock.self, VaultLock.self])

    @OptionGroup var globals: GlobalOptions
}
