import CproCore

#if canImport(Glibc)
import Glibc
#endif

/// Plain http is allowed to this machine only (WebURL), but any local user
/// can listen on a loopback port first. Before credentials go to
/// `http://127.0.0.1:PORT`, the listening socket's owner is looked up in
/// /proc/net/tcp and tcp6: it must be this user or root.
package enum LoopbackOwner {
    /// Throws when a listener on the URL's loopback port belongs to someone
    /// else; nothing to check for https, for another host, or when nothing
    /// listens (the connection will be refused anyway).
    package static func check(_ url: String) throws {
        guard let u = try? WebURL.parse(url, name: "url"), u.scheme == "http", WebURL.isLoopback(u.host) else { return }
        let port = u.port ?? 80
        let me = geteuid()
        for owner in listeners(port: port, host: u.host) where owner != me && owner != 0 {
            throw Failure(
                .wrongEndpoint,
                "port \(port) on \(u.host) is held by \(SecureFiles.userName(owner)), not by you or root; cpro sends no credential over plain http to another user's listener (any local user can bind a free port first): stop it, or use another port for your simulator",
                fr: "le port \(port) de \(u.host) est tenu par \(SecureFiles.userName(owner)), ni vous ni root ; cpro n'envoie aucun identifiant en http clair au serveur d'un autre utilisateur (tout utilisateur local peut occuper un port libre le premier) : arrêtez-le, ou utilisez un autre port pour votre simulateur")
        }
    }

    /// The uids of the sockets listening on `port` that a connection to
    /// `host` can reach: its own address, or a wildcard one.
    static func listeners(port: Int, host: String) -> [uid_t] {
        let v4Targets: Set<String> = host == "localhost" ? [ipv4Hex("127.0.0.1")!] : ipv4Hex(host).map { [$0] } ?? []
        let wantsV6 = host == "localhost" || host.contains(":")
        var out: [uid_t] = []
        for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
            guard let bytes = try? SecureFiles.read(file, limit: 16 << 20) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 7, f[3] == "0A" else { continue }  // LISTEN
                let local = f[1].split(separator: ":")
                guard local.count == 2, Int(local[1], radix: 16) == port, let uid = uid_t(f[7]) else { continue }
                let address = String(local[0])
                let reachable: Bool
                if v6 {
                    // ::, ::1, or ::ffff:a.b.c.d (the IPv4 address, dual stack).
                    let any = address == String(repeating: "0", count: 32)
                    let loop = address == "00000000000000000000000001000000"
                    let mapped = address.hasPrefix("0000000000000000FFFF0000") && v4Targets.contains(String(address.suffix(8)))
                    reachable = any || (wantsV6 && loop) || mapped
                } else {
                    reachable = address == "00000000" || v4Targets.contains(address)
                }
                if reachable { out.append(uid) }
            }
        }
        return out
    }

    /// 127.0.0.1 as /proc/net/tcp writes it: the four bytes in the host's
    /// (little-endian) order, in hex.
    static func ipv4Hex(_ host: String) -> String? {
        let parts = host.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return nil }
        return parts.reversed().map { b in
            let h = String(b, radix: 16, uppercase: true)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }
}
