import ArgumentParser
import CproCore
import CproPiste
import CproVault
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// How exported variables are named: the contract's names, changed by
/// `--rename OLD=NEW` or a preset for what other libraries expect.
struct NamingOptions: ParsableArguments {
    @Option(name: .customLong("rename"), help: ArgumentHelp("Export OLD under the name NEW (repeatable).", valueName: "OLD=NEW"))
    var renames: [String] = []

    @Option(help: "Names other tools use: python-scripts (CHORUS_PRO_LOGIN, CHORUS_PRO_PASSWORD for the technical account).")
    var preset: String?

    static let presets: [String: [String: String]] = [
        "python-scripts": ["CPRO_TECH_LOGIN": "CHORUS_PRO_LOGIN", "CPRO_TECH_PASSWORD": "CHORUS_PRO_PASSWORD"],
    ]

    func mapping() throws -> [String: String] {
        var map: [String: String] = [:]
        if let preset {
            guard let p = Self.presets[preset] else {
                throw Failure("unknown preset; presets are \(Self.presets.keys.sorted().joined(separator: ", "))",
                              fr: "préréglage inconnu ; les préréglages sont \(Self.presets.keys.sorted().joined(separator: ", "))")
            }
            map = p
        }
        for r in renames {
            let parts = r.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, HandedVariables.allNames.contains(parts[0]), ExportVariable.isValidName(parts[1]) else {
                throw Failure(
                    "--rename takes OLD=NEW, OLD one of \(HandedVariables.allNames.joined(separator: ", ")) and NEW a variable name",
                    fr: "--rename prend ANCIEN=NOUVEAU, ANCIEN parmi \(HandedVariables.allNames.joined(separator: ", ")) et NOUVEAU un nom de variable")
            }
            map[parts[0]] = parts[1]
        }
        return map
    }
}

/// The variables handed to other tools, resolved once.
enum HandedVariables {
    static let tokenNames = ["PISTE_ACCESS_TOKEN", "PISTE_TOKEN_EXPIRES_AT"]
    static let allNames = StoredField.allCases.map(\.variableName) + ["CPRO_ACCOUNT", "PISTE_OAUTH_URL", "CPRO_API_URL"] + tokenNames

    /// The values whose sight would let someone act as you (masked by `exec --mask`).
    static let secretNames: Set<String> = ["PISTE_CLIENT_SECRET", "CPRO_TECH_PASSWORD", "CPRO_ACCOUNT", "PISTE_ACCESS_TOKEN"]
    /// What `exec --with-token` alone hands over: enough to call the API, not
    /// to get tokens or change the technical account's password.
    static let tokenOnly: Set<String> = ["PISTE_ACCESS_TOKEN", "PISTE_TOKEN_EXPIRES_AT", "CPRO_ACCOUNT", "PISTE_OAUTH_URL", "CPRO_API_URL"]
    static let shortNames: [String: [String]] = [
        "client-id": ["PISTE_CLIENT_ID"], "client-secret": ["PISTE_CLIENT_SECRET"], "tech-login": ["CPRO_TECH_LOGIN"],
        "tech-password": ["CPRO_TECH_PASSWORD"], "cpro-account": ["CPRO_ACCOUNT"], "oauth-url": ["PISTE_OAUTH_URL"],
        "api-url": ["CPRO_API_URL"], "token": tokenNames,
    ]

    /// `--only a,b,...`: contract names or their short forms (`token`, `cpro-account`, ...).
    static func parseOnly(_ text: String) throws -> Set<String> {
        var out = Set<String>()
        for raw in text.split(separator: ",").map({ $0.trimmed() }) where !raw.isEmpty {
            if let names = shortNames[raw.lowercased()] {
                out.formUnion(names)
            } else if allNames.contains(raw) {
                out.insert(raw)
            } else {
                let known = (shortNames.keys.sorted() + allNames).joined(separator: ", ")
                throw Failure("--only: unknown name (names: \(known))", fr: "--only : nom inconnu (noms : \(known))")
            }
        }
        guard !out.isEmpty else { throw Failure("--only needs at least one name", fr: "--only demande au moins un nom") }
        return out
    }

    static func resolve(_ ctx: Context, withToken: Bool, naming: [String: String], only: Set<String>? = nil) async throws -> [ExportVariable] {
        let store = try ctx.store()
        let creds = try await store.read(ctx.profile, ctx.pisteEnvironment)
        guard !creds.values.isEmpty else {
            throw NotSet(field: "client-id", selection: ctx.selection, backend: store.kind)
        }
        let missing = creds.missing.filter { only?.contains($0.variableName) ?? true }
        if !missing.isEmpty {
            ctx.output.warn(Failure(
                "not set for \(ctx.selection), so not exported: \(missing.map(\.rawValue).joined(separator: ", "))",
                fr: "non enregistré(s) pour \(ctx.selection), donc non exporté(s) : \(missing.map(\.rawValue).joined(separator: ", "))"))
        }
        var vars: [ExportVariable] = []
        for f in StoredField.allCases { if let v = creds[f] { vars.append(ExportVariable(f.variableName, v)) } }
        if creds[.techLogin] != nil && creds[.techPassword] != nil {
            vars.append(ExportVariable("CPRO_ACCOUNT", try creds.cproAccount()))
        }
        let endpoints = try ctx.endpoints()
        vars.append(ExportVariable("PISTE_OAUTH_URL", SecretBytes(utf8: endpoints.oauthURL)))
        vars.append(ExportVariable("CPRO_API_URL", SecretBytes(utf8: endpoints.apiURL)))
        if withToken || !(only ?? []).isDisjoint(with: tokenNames) {
            let token = try await ctx.tokenProvider(store, endpoints: endpoints).token()
            vars.append(ExportVariable("PISTE_ACCESS_TOKEN", token.value))
            vars.append(ExportVariable("PISTE_TOKEN_EXPIRES_AT", SecretBytes(utf8: token.expiresAt.rfc3339)))
        }
        if ctx.pisteEnvironment == .production {
            ctx.output.say("Handing over PRODUCTION credentials (\(ctx.selection)).",
                           "Transmission des identifiants de PRODUCTION (\(ctx.selection)).")
        }
        if let only {
            vars = vars.filter { only.contains($0.name) }
            let absent = only.subtracting(vars.map(\.name))
            if !absent.isEmpty {
                throw Failure(
                    "not available for \(ctx.selection): \(absent.sorted().joined(separator: ", ")) (store the fields they come from first)",
                    fr: "non disponible(s) pour \(ctx.selection) : \(absent.sorted().joined(separator: ", ")) (enregistrez d'abord les champs dont ils viennent)")
            }
        }
        return vars.map { ExportVariable(naming[$0.name] ?? $0.name, $0.value) }
    }
}

struct CredsExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the credentials as variables for other tools: shell (eval), dotenv (python-dotenv) or json.",
        discussion: """
            Variables: PISTE_CLIENT_ID, PISTE_CLIENT_SECRET, CPRO_TECH_LOGIN, CPRO_TECH_PASSWORD, \
            CPRO_ACCOUNT, PISTE_OAUTH_URL, CPRO_API_URL; with --with-token also PISTE_ACCESS_TOKEN and \
            PISTE_TOKEN_EXPIRES_AT. Refuses to print to a terminal without --force. Prefer `cpro exec`, \
            which hands the variables to one program without printing them. See docs/export.md.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var naming: NamingOptions

    @Option(help: "shell, dotenv or json.")
    var format: String = "shell"

    @Flag(help: "Also export a valid access token and its expiry.")
    var withToken = false

    @Flag(help: "Print secrets even when standard output is a terminal.")
    var force = false

    func run() async throws {
        let ctx = try Context(globals)
        guard let fmt = ExportFormat(rawValue: format) else {
            throw Failure("--format takes shell, dotenv or json", fr: "--format prend shell, dotenv ou json")
        }
        let mapping = try naming.mapping()
        if isatty(1) == 1 && !force {
            throw Failure(
                "standard output is a terminal: secrets would stay on screen and in scrollback. Redirect it, use `cpro exec`, or add --force",
                fr: "la sortie standard est un terminal : les secrets resteraient à l'écran. Redirigez-la, utilisez `cpro exec`, ou ajoutez --force")
        }
        let vars = try await HandedVariables.resolve(ctx, withToken: withToken, naming: mapping)
        // `> file` made the file with the shell's umask (0644 usually): say so.
        var st = stat()
        if fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o044 != 0 {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink("/proc/self/fd/1", &buf, buf.count - 1)
            let name = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "the output file"
            let m = String(UInt32(st.st_mode & 0o777), radix: 8)
            ctx.output.warn(Failure(
                "\(name) is readable by other users (mode \(m)) and now holds secrets: chmod 600 it, and create such files under umask 077 ((umask 077; cpro creds export > FILE))",
                fr: "\(name) est lisible par d'autres utilisateurs (mode \(m)) et contient maintenant des secrets : faites chmod 600, et créez ces fichiers sous umask 077 ((umask 077; cpro creds export > FICHIER))"))
        }
        Output.write(1, Exporter.render(vars, as: fmt).unprotectedBytes)
    }
}

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command with the credentials in its environment (no shell, no file).",
        discussion: """
            cpro resolves the variables once, removes any of the same names (and the vault \
            passphrase) from the environment, sets CPRO_EXEC, and replaces itself with the command, \
            whose exit status becomes cpro's. Nested `cpro exec` is refused unless --nested. \
            Least privilege: --only names what the command gets; --with-token alone gives the token, \
            its expiry, CPRO_ACCOUNT and the URLs, not the client secret. --mask (the default when CI \
            is set) keeps cpro between the command and its output, replacing every secret handed \
            over with <concealed by cpro>, forwarding signals and keeping the exit status.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var naming: NamingOptions

    @Flag(help: "Pass a valid access token and its expiry, with CPRO_ACCOUNT and the URLs only (add --only for more).")
    var withToken = false

    @Option(help: ArgumentHelp("Only these of the exported values, e.g. token,cpro-account (short names or variable names).", valueName: "NAMES"))
    var only: String?

    @Flag(inversion: .prefixedNo, help: "Conceal the secrets in the command's output (default: on when CI is set).")
    var mask: Bool?

    @Flag(help: "Allow running inside another cpro exec.")
    var nested = false

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func run() async throws {
        let ctx = try Context(globals)
        guard let program = command.first, !program.isEmpty else {
            throw Failure("name the command to run after --: cpro exec -- CMD [ARG...]",
                          fr: "nommez la commande à lancer après -- : cpro exec -- CMD [ARG...]")
        }
        if let outer = ctx.environment["CPRO_EXEC"], !outer.isEmpty, !nested {
            throw Failure(
                "already inside `cpro exec` (for \(outer)); the variables are set. Use --nested to run it anyway",
                fr: "déjà dans `cpro exec` (pour \(outer)) ; les variables sont là. Utilisez --nested pour le lancer quand même")
        }
        let mapping = try naming.mapping()
        var wanted = try only.map(HandedVariables.parseOnly)
        if wanted == nil && withToken { wanted = HandedVariables.tokenOnly }
        let vars = try await HandedVariables.resolve(ctx, withToken: withToken, naming: mapping, only: wanted)
        var removed = Set(HandedVariables.allNames).union(mapping.values)
        removed.formUnion(["CPRO_VAULT_PASSPHRASE", "CPRO_VAULT_NEW_PASSPHRASE", "CPRO_EXEC"])
        // The OpenBao token opens every profile's secrets; the child gets the
        // one profile it was given, not the key to all of them.
        if ctx.backend == .openbao { removed.formUnion(["BAO_TOKEN", "VAULT_TOKEN"]) }
        var environment = ctx.environment.filter { !removed.contains($0.key) }.map { "\($0.key)=\($0.value)" }
        environment.append("CPRO_EXEC=\(ctx.profile.value)/\(ctx.pisteEnvironment.rawValue)")
        for v in vars { environment.append(v.name + "=" + v.value.unprotectedString) }

        guard let path = Self.resolve(program, searchPath: ctx.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            ctx.output.say(Failure("command not found: \(program)", fr: "commande introuvable : \(program)"))
            throw ExitCode(127)
        }
        // The program gets the descriptors cpro was given, none of cpro's own.
        InheritedDescriptors.closeOursOnExec()
        let ci = (ctx.environment["CI"] ?? "").lowercased()
        if mask ?? (!ci.isEmpty && ci != "false" && ci != "0") {
            let original = Dictionary(mapping.map { ($0.value, $0.key) }) { a, _ in a }
            let handed = vars.map { (name: original[$0.name] ?? $0.name, value: $0.value.unprotectedBytes) }
            let secrets = MaskForms.of(handed, secretNames: HandedVariables.secretNames)
            do {
                throw ExitCode(try MaskedRun.run(path, argv: command, envp: environment, secrets: secrets))
            } catch let e as MaskedRun.SpawnFailure {
                ctx.output.say(Failure("cannot run \(program): \(String(cString: strerror(e.code)))",
                                       fr: "impossible de lancer \(program) : \(String(cString: strerror(e.code)))"))
                throw ExitCode(e.code == ENOENT ? 127 : 126)
            }
        }
        // cpro is replaced by the program: it gets the user's core limit back.
        Hardening.restoreForChild()
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        // This runs on a worker thread, which blocks most signals; a blocked
        // mask survives execve, and the program would never see SIGTERM.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        execve(path, argv, envp)
        let code = errno
        ctx.output.say(Failure("cannot run \(program): \(String(cString: strerror(code)))",
                               fr: "impossible de lancer \(program) : \(String(cString: strerror(code)))"))
        throw ExitCode(code == ENOENT ? 127 : 126)
    }

    /// execvp's search, done here so the child's environment is exactly ours.
    static func resolve(_ program: String, searchPath: String) -> String? {
        if program.contains("/") { return program }
        for dir in searchPath.split(separator: ":") {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

struct Api: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "One authenticated POST to the Chorus Pro API; prints the JSON answer.",
        discussion: """
            PATH is relative to the API base, e.g. utilisateurs/v1/monCompte/recuperer/rattachements. \
            Both authentications are added, the cached token is used and refreshed once on a 401. \
            The exit status is 1 when codeRetour is not 0 (the answer is still printed).
            """)

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The service path, relative to the API base.")
    var path: String

    @Option(help: ArgumentHelp("The JSON body, or @FILE to read it from a file (@- for standard input). Default {}.", valueName: "JSON|@FILE"))
    var data: String = "{}"

    @Flag(inversion: .prefixedNo, help: """
        --retry: retry after a 5xx, a 429 or a lost answer, as for reads. --no-retry: send again only \
        what surely never reached the server. Default: --retry for read-only services (rechercher, \
        consulter, recuperer), --no-retry for every other POST, so an invoice is never deposited twice.
        """)
    var retry: Bool?

    func run() async throws {
        let ctx = try Context(globals)
        let body: [UInt8]
        if data == "@-" {
            body = Array(try StandardInput.readText(limit: 8 << 20).utf8)
        } else if data.hasPrefix("@") {
            let file = String(data.dropFirst())
            guard let bytes = try SecureFiles.read(file, limit: 8 << 20) else {
                throw Failure("\(file) does not exist", fr: "\(file) n'existe pas")
            }
            body = bytes
        } else {
            body = Array(data.utf8)
        }
        guard JSONValue.parse(body)?.object != nil else {
            throw Failure("the request body is not a JSON object", fr: "le corps de la requête n'est pas un objet JSON")
        }
        let store = try ctx.store()
        let creds = try await store.read(ctx.profile, ctx.pisteEnvironment)
        for f in [StoredField.techLogin, .techPassword] where creds[f] == nil {
            throw NotSet(field: f.rawValue, selection: ctx.selection, backend: store.kind)
        }
        let endpoints = try ctx.endpoints()
        let client = ChorusClient(
            transport: ctx.transport, tokens: ctx.tokenProvider(store, endpoints: endpoints), endpoints: endpoints,
            cproAccount: try creds.cproAccount(), logger: ctx.logger)
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        do {
            let answer = try await client.post(trimmed, json: body, repeatability: retry.map { $0 ? .idempotent : .atMostOnce })
            Output.write(1, try Self.printable(answer.body, status: 200) + [0x0A])
        } catch let e as Failure where e.diagnosis == .chorusError {
            if let raw = e.body {
                Output.write(1, try Self.printable(raw, status: e.status ?? 0) + [0x0A])
                if ctx.output.json {
                    // One JSON document on stdout: the answer, which holds codeRetour.
                    ctx.output.say(e)
                    throw ExitCode(1)
                }
            }
            throw e
        }
    }

    /// What may go to standard output: JSON only (a server's bytes could
    /// otherwise drive the terminal with escape sequences), and on a terminal
    /// the C1 controls that JSON allows raw escaped as \u00XX.
    static func printable(_ body: [UInt8], status: Int) throws -> [UInt8] {
        guard String(validating: body, as: UTF8.self) != nil, JSONValue.parse(body) != nil else {
            throw Failure(
                .unexpectedResponse, "the API answered HTTP \(status) with a body that is not JSON; it is not printed (--verbose tells what cpro sent)",
                fr: "l'API a répondu HTTP \(status) avec un corps qui n'est pas du JSON ; il n'est pas affiché (--verbose dit ce que cpro a envoyé)",
                status: status)
        }
        guard isatty(1) == 1 else { return body }
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        for scalar in String(decoding: body, as: UTF8.self).unicodeScalars {
            // Raw C0 controls cannot be inside valid JSON but whitespace; C1
            // (and DEL, the line and paragraph separators) can, inside strings.
            // Bidirectional controls too: they reorder what the screen shows.
            let v = scalar.value
            if (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
                || v == 0x200E || v == 0x200F || v == 0x061C {
                let hex = String(scalar.value, radix: 16)
                out += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            } else {
                out += Array(String(scalar).utf8)
            }
        }
        return out
    }
}
