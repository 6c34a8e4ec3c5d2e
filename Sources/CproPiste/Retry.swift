import CproCore
import CproHTTP
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Bounded retries with exponential backoff and full jitter. A Retry-After
/// within the cap is honoured.
package struct RetryPolicy: Sendable {
    package var attempts: Int
    package var baseDelay: Double
    package var maxDelay: Double
    package var maxRetryAfter: Double

    package static let standard = RetryPolicy(attempts: 3, baseDelay: 0.25, maxDelay: 4, maxRetryAfter: 30)

    package init(attempts: Int, baseDelay: Double, maxDelay: Double, maxRetryAfter: Double) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    package func delay(afterAttempt n: Int, retryAfter: String?) -> Double? {
        if let ra = retryAfter?.trimmed(), let seconds = Double(ra) {
            return seconds <= maxRetryAfter ? max(0, seconds) : nil
        }
        let ceiling = min(maxDelay, baseDelay * Double(sign: .plus, exponent: max(0, n - 1), significand: 1))
        return Double.random(in: 0...ceiling)
    }

    static func isRetryable(status: Int) -> Bool { status == 429 || (500...599).contains(status) }
}

/// Whether a request may be sent twice. A request that changes something (an
/// invoice deposit) must reach the server at most once: it is sent again only
/// when it surely never left (the connection was never opened), or when the
/// server said so itself (429 or 503 with Retry-After: it did not act).
package enum Repeatability: Sendable, Equatable {
    /// Reads: retried on any transport error, 5xx or 429.
    case idempotent
    /// Writes: retried only when the request surely did not reach the server.
    case atMostOnce

    func mayRetry(status: Int, retryAfter: String?) -> Bool {
        switch self {
        case .idempotent: RetryPolicy.isRetryable(status: status)
        case .atMostOnce: (status == 429 || status == 503) && retryAfter != nil
        }
    }

    func mayRetry(_ e: TransportError) -> Bool {
        self == .idempotent || !e.mayHaveReachedServer
    }
}

/// Sends with retries. Returns the last answer (even a 5xx) when attempts run out
/// on HTTP errors, so the caller can tell an answer from silence; throws the
/// last transport error when there was never an answer. Never sleeps past the
/// transport's time budget.
func sendWithRetries(
    _ transport: HTTPTransport, _ request: HTTPRequest, policy: RetryPolicy, repeatability: Repeatability = .idempotent,
    endpoint: Text? = nil, log: (String) -> Void = { _ in }
) async throws -> (HTTPResponse, attempts: Int) {
    var attempt = 0
    func fits(_ wait: Double) -> Bool { transport.remainingTime.map { wait < $0 } ?? true }
    while true {
        attempt += 1
        do {
            let response = try await transport.send(request)
            let retryAfter = response.header("retry-after")
            guard repeatability.mayRetry(status: response.status, retryAfter: retryAfter), attempt < policy.attempts,
                  let wait = policy.delay(afterAttempt: attempt, retryAfter: retryAfter), fits(wait)
            else { return (response, attempt) }
            log("HTTP \(response.status) from \(request.url); retrying in \(fixed(wait, places: 2)) s")
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        } catch let e as TransportError {
            guard repeatability.mayRetry(e), attempt < policy.attempts,
                  let wait = policy.delay(afterAttempt: attempt, retryAfter: nil), fits(wait)
            else {
                throw Failure.unreachable(e, attempts: attempt, uncertainWrite: repeatability == .atMostOnce, endpoint: endpoint)
            }
            log("\(e.kind.rawValue) error for \(e.host); retrying in \(fixed(wait, places: 2)) s")
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }
}
