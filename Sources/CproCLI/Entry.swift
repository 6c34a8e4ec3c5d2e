import ArgumentParser
import CCproSys
import CproCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The process entry: parses, runs, and turns every error into a message in the
/// user's language and an exit status. No error text ever repeats an argument
/// that could be a secret.
package enum CproMain {
    /// Called by main.swift when the fast path did not answer, before the
    /// full path opens anything: the descriptors the process was given are
    /// recorded (the fast path hands nothing on, and closes what it opens).
    package static func prepare(_ argv: [String] = CommandLine.arguments) {
        InheritedDescriptors.record()
    }

    /// The warm answers that need no task, no thread and no parser; nil
    /// when the full path (`run`) must answer. main.swift calls it first,
    /// before anything suspends.
    package static func fast(_ argv: [String] = CommandLine.arguments) -> Int32? {
        let args = Array(argv.dropFirst())
        guard args.first == "token" else { return nil }
        Hardening.apply()
        return FastPath.token(args, environment: ProcessInfo.processInfo.environment)
    }

    package static func run(_ argv: [String] = CommandLine.arguments) async -> Int32 {
        Hardening.apply()
        LoggingSystem.bootstrap { _ in StderrLogHandler() }
        let env = ProcessInfo.processInfo.environment
        let args = Array(argv.dropFirst())
        let lang = languageHint(args, env)
        let output = Output(lang: lang, json: args.contains("--json"))

        if let refused = SecretArguments.refusal(args) {
            output.say(refused)
            return 64
        }
        do {
            var command = try Cpro.parseAsRoot(args)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch let error as CproError {
            output.say(error)
            if output.json {
                // Tools reading stdout get the failure in the same shape as success.
                output.json(ErrorJSON(error: .init(message: error.message(lang), diagnosis: error.diagnosis?.rawValue)))
            }
            return (error as? Failure)?.isUsage == true ? 64 : 1
        } catch {
            let code = Cpro.exitCode(for: error).rawValue
            if code == 0 {
                // Help and completion scripts: ArgumentParser's own text, which
                // repeats no argument value, printed as it is.
                Output.write(1, Array((Cpro.fullMessage(for: error) + "\n").utf8))
            } else {
                let advice = UsageAdvice.lines(for: args, lang: lang).map { $0 + "\n" }.joined()
                let text = SecretArguments.redact(Cpro.fullMessage(for: error), args: args)
                Output.write(2, Array((text + "\n" + advice).utf8))
                if output.json {
                    // The same shape as every other failure under --json.
                    let first = text.split(separator: "\n").first.map(String.init) ?? text
                    output.json(ErrorJSON(error: .init(message: first, diagnosis: nil)))
                }
            }
            return code
        }
    }

    static func languageHint(_ args: [String], _ env: [String: String]) -> Language {
        if let i = args.firstIndex(of: "--lang"), i + 1 < args.count, let l = Language(rawValue: args[i + 1]) { return l }
        if let a = args.first(where: { $0.hasPrefix("--lang=") }), let l = Language(rawValue: String(a.dropFirst(7))) { return l }
        return Language.from(environment: env)
    }
}

/// `{"error": {"message": …, "diagnosis": …}}`: a failure under --json, in
/// the same shape for every command; diagnosis absent for plain failures.
struct ErrorJSON: Encodable {
    struct Body: Encodable {
        let message: String
        let diagnosis: String?
    }
    let error: Body
}

/// cpro never takes a secret on the command line (other users can read it in
/// `ps`, and shells keep it in their history). Options that look like one are
/// refused before parsing, and error messages never echo arguments.
enum SecretArguments {
    static let secretOptions: Set<String> = [
        "client-id", "client-secret", "secret", "password", "pass", "passwd", "passphrase", "tech-login",
        "tech-password", "login", "token", "access-token", "value", "cpro-account",
    ]

    static func refusal(_ args: [String]) -> Failure? {
        for arg in args {
            if arg == "--" { break }
            guard arg.hasPrefix("--") else { continue }
            let name = arg.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            if secretOptions.contains(name.lowercased().replacing("_", with: "-")) {
                return Failure(
                    "cpro takes no secret or credential as an option (--\(name)), since other users can read a command line: "
                        + "run `cpro creds set FIELD` to be prompted, or pipe the value into `cpro creds set --stdin FIELD`",
                    fr: "cpro ne prend ni secret ni identifiant en option (--\(name)), car d'autres utilisateurs peuvent lire une ligne de commande : "
                        + "lancez `cpro creds set CHAMP` pour une saisie masquée, ou envoyez la valeur par `cpro creds set --stdin CHAMP`")
            }
        }
        return nil
    }

    /// Words cpro knows: they may appear in messages as they are.
    static var vocabulary: Set<String> {
        var words: Set<String> = ["creds", "set", "get", "list", "remove", "import", "export", "vault", "init", "status",
                                  "passwd", "token", "clear", "health", "onboard", "exec", "api", "migrate", "help",
                                  "shell", "dotenv", "json", "en", "fr", "default", "config", "unset", "rotate",
                                  "qualif", "qualification", "prod", "lock", "unlock", "agent",
                                  "text", "nagios", "prometheus"]
        words.formUnion(ConfigKey.scoped + ConfigKey.global)
        words.formUnion(Field.all.map(\.name))
        words.formUnion(PisteEnvironment.allCases.map(\.rawValue))
        words.formUnion(BackendKind.allCases.map(\.rawValue))
        return words
    }

    /// Masks in a parser message every argument that could be a secret: not
    /// cpro's own words, nor a near miss of one (`helth`, `nagio`), nor an
    /// option name. Only whole words are masked, so a short argument never
    /// eats into cpro's own text (`nagio` inside 'nagios').
    static func redact(_ message: String, args: [String]) -> String {
        var text = message
        let known = vocabulary
        for (i, arg) in args.enumerated() where !arg.isEmpty && !known.contains(arg) {
            if arg.hasPrefix("-") && !arg.contains("=") { continue }
            if isTypo(arg, known) { continue }
            text = replacingWhole(arg, in: text, with: "<argument \(i + 1)>")
        }
        return text
    }

    /// Close enough to a word of cpro's to be a misspelling of it.
    static func isTypo(_ arg: String, _ known: Set<String>) -> Bool {
        arg.count <= 40 && Suggestion.closest(to: arg, among: Array(known)) != nil
    }

    static func replacingWhole(_ word: String, in text: String, with replacement: String) -> String {
        func isWordCharacter(_ c: Character?) -> Bool { c.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } ?? false }
        var out = ""
        var rest = Substring(text)
        while let range = rest.firstRange(of: word) {
            let before = range.lowerBound == rest.startIndex ? out.last : rest[rest.index(before: range.lowerBound)]
            let after = range.upperBound == rest.endIndex ? nil : rest[range.upperBound]
            out += rest[..<range.lowerBound]
            out += isWordCharacter(before) || isWordCharacter(after) ? String(rest[range]) : replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}

/// What the parser's own message leaves out: the word meant, and that
/// `cpro exec` takes its command after `--`.
enum UsageAdvice {
    static func lines(for args: [String], lang: Language) -> [String] {
        var out: [String] = []
        if let exec = args.firstIndex(of: "exec"), !args.contains("--"),
           args[(exec + 1)...].contains(where: { !$0.hasPrefix("-") }) {
            out.append(lang.pick("cpro exec takes the command after --: cpro exec [OPTIONS] -- CMD [ARG...]",
                                 "cpro exec prend la commande après -- : cpro exec [OPTIONS] -- CMD [ARG...]"))
            return out
        }
        let known = SecretArguments.vocabulary
        for arg in args where !arg.hasPrefix("-") && !known.contains(arg) {
            if let near = Suggestion.closest(to: arg, among: Array(known).sorted()) {
                out.append(lang.pick("Did you mean '\(near)'?", "Vouliez-vous dire « \(near) » ?"))
                break
            }
        }
        return out
    }
}
