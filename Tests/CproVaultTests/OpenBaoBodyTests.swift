import Foundation
import Testing
@testable import CproCore
@testable import CproVault

/// The write body is built in bytes (so values never pass through a Swift
/// String); it must still be JSON that says exactly those values.
@Suite(.timeLimit(.minutes(10))) struct OpenBaoBodyTests {
    @Test func everyValueSurvivesTheJSONBody() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("\"\\/\u{7F}\u{1}\t\n\r ab$#'é€🙂東\u{2028}")
        for _ in 0..<300 {
            let value = String((0..<Int.random(in: 1...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let body = OpenBaoStore.body([("client-secret", SecretBytes(utf8: value)), ("tech-login", nil)], cas: 7)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let data = try #require(object["data"] as? [String: Any])
            #expect(data["client-secret"] as? String == value)
            #expect(data["tech-login"] is NSNull, "null deletes the key in a merge patch")
            #expect((object["options"] as? [String: Any])?["cas"] as? Int == 7)
        }
    }
}
