import ArgumentParser
import CproCore
import CproPiste
import CproVault

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a valid PISTE access token alone (from the shared cache while it is valid).",
        discussion: """
            The token is cached per profile and environment for every process of the user, renewed \
            when less than the margin (config `token_refresh_margin`, default 300 s) remains, and \
            fetched once even when many processes ask at the same time. A warm read opens neither the \
            vault nor the network. With --json: access_token, token_type, expires_at (RFC 3339, UTC), \
            the shape tools that call out for credentials expect.
            """,
        subcommands: [TokenClear.self])

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Fetch a new token even if the cached one is valid.")
    var refresh = false

    func run() async throws {
        let ctx = try Context(globals)
        let token = try await ctx.tokenProvider(try ctx.store(), endpoints: try ctx.endpoints()).token(refresh: refresh)
        if ctx.output.json {
            ctx.output.json(TokenJSON(accessToken: token.value.unprotectedString, tokenType: token.type, expiresAt: token.expiresAt.rfc3339))
        } else {
            ctx.output.data(secret: token.value)
        }
    }
}

struct TokenClear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear", abstract: "Forget the cached token of the selected profile and environment.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        let cleared = try ctx.tokenProvider(try ctx.store(), endpoints: try ctx.settings.endpoints(ctx.profile, ctx.pisteEnvironment)).clear()
        if ctx.output.json {
            ctx.output.json(TokenClearedJSON(cleared: cleared, profile: ctx.profile.value, environment: ctx.pisteEnvironment.rawValue))
        } else if cleared {
            ctx.output.say("Forgot the cached token of \(ctx.selection).", "Jeton en cache de \(ctx.selection) oublié.")
        } else {
            ctx.output.say("No cached token for \(ctx.selection).", "Aucun jeton en cache pour \(ctx.selection).")
        }
    }
}
