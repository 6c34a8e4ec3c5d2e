#if canImport(Glibc)
import Glibc
#endif

extension Int64 {
    /// Seconds since 1970 as RFC 3339 in UTC, e.g. 2026-11-29T19:16:57Z.
    package var rfc3339: String {
        var t = time_t(self)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }
}
