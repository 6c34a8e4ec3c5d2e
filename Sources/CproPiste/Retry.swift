import CproHTTP
import Foundation

/// Bounded retries with exponential backoff and full jitter, for connection
/// errors, 5xx and 429 only. A Retry-After within the cap is honoured.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    public var maxRetryAfter: Double

    public static let standard = RetryPolicy(attempts: 3, baseDelay: 0.25, maxDelay: 4, maxRetryAfter: 30)

    public init(attempts: Int, baseDelay: Double, maxDelay: Double, maxRetryAfter: Double) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    public func delay(afterAttempt n: Int, retryAfter: String?) -> Double? {
        if let ra = retryAfter?.trimmingCharacters(in: .whitespaces), let seconds = Double(ra) {
            return seconds <= maxRetryAfter ? max(0, seconds) : nil
        }
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(n - 1)))
        return Double.random(in: 0...ceiling)
    }

    static func isRetryable(status: Int) -> Bool { status == 429 || (500...599).contains(status) }
}

/// Sends with retries. Returns the last answer (even a 5xx) when attempts run out
/// on HTTP errors, so the caller can tell an answer from silence; throws the
/// last transport error when there was never an answer.
func sendWithRetries(
    _ transport: HTTPTransport, _ request: HTTPRequest, policy: RetryPolicy,
    log: (String) -> Void = { _ in }
) async throws -> (HTTPResponse, attempts: Int) {
    var attempt = 0
    while true {
        attempt += 1
        do {
            let response = try await transport.send(request)
            guard RetryPolicy.isRetryable(status: response.status), attempt < policy.attempts,
                  let wait = policy.delay(afterAttempt: attempt, retryAfter: response.header("retry-after"))
            else { return (response, attempt) }
            log("HTTP \(response.status) from \(request.url); retrying in \(String(format: "%.2f", wait)) s")
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        } catch let e as TransportError {
            guard attempt < policy.attempts, let wait = policy.delay(afterAttempt: attempt, retryAfter: nil) else {
                throw PisteError.unreachable(e, attempts: attempt)
            }
            log("\(e.kind.rawValue) error for \(e.host); retrying in \(String(format: "%.2f", wait)) s")
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }
}
