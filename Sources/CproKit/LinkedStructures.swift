/// The technical account's linked structures (`rattachements`), typed: the
/// call behind `cpro health`'s structure list, and an example of `send`.
/// The types (LinkedStructure, LinkedStructuresRequest, LinkedStructuresPage)
/// are CproPiste's, shared with the checker.
extension CproClient {
    public static let linkedStructuresPath = LinkedStructuresPage.path

    /// Every linked structure, all pages read (at most 100 pages of 100).
    public func linkedStructures() async throws -> [LinkedStructure] {
        var all: [LinkedStructure] = []
        var page = 1
        while page <= 100 {
            let answer = try await send(Self.linkedStructuresPath, LinkedStructuresRequest(page: page), as: LinkedStructuresPage.self)
            all += answer.structures
            guard page < answer.pages, !answer.structures.isEmpty else { break }
            page += 1
        }
        return all
    }
}
