import CproCore
import CproPiste

/// `cpro token` on a warm cache, answered before the argument parser and the
/// rest of the command machinery start: on a warm read those were most of
/// the command's time. It answers only when the full path would print the
/// same token and nothing else (no warning, no prompt, no network); in every
/// other case it returns nil and the full path runs, errors and all.
enum FastPath {
    static func token(_ args: [String], environment: [String: String]) -> Int32? {
        guard let globals = simpleTokenArguments(args),
              let ctx = try? Context(globals, environment: environment),
              ctx.settings.config.warnings.isEmpty,
              let endpoints = try? ctx.settings.endpoints(ctx.profile, ctx.pisteEnvironment),
              !endpoints.usesRetiredGateway,
              let store = try? ctx.store(),
              // A backend without a change stamp is read on every warm call
              // (OpenBao, the Secret Service): a failure there would cost its
              // time twice, here and again in the full path.
              let token = ctx.tokenProvider(store, endpoints: endpoints, readsBeforeLock: false).warmByStamp()
        else { return nil }
        ctx.output.data(secret: token.value)
        return 0
    }

    /// `token`, optionally with --profile NAME and --env NAME (either form):
    /// the shape scripts call it in. Anything else goes to the parser.
    static func simpleTokenArguments(_ args: [String]) -> Context.Globals? {
        guard args.first == "token" else { return nil }
        var globals = Context.Globals()
        var rest = args.dropFirst()
        while let arg = rest.popFirst() {
            let (name, inline) = arg.hasPrefix("--") && arg.contains("=")
                ? (String(arg.prefix { $0 != "=" }), String(arg.drop { $0 != "=" }.dropFirst())) : (arg, nil)
            guard name == "--profile" || name == "--env", let value = inline ?? rest.popFirst(),
                  !value.hasPrefix("-") else { return nil }
            if name == "--profile" {
                guard globals.profile == nil else { return nil }
                globals.profile = value
            } else {
                guard globals.environment == nil else { return nil }
                globals.environment = value
            }
        }
        return globals
    }
}
