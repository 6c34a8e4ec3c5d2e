/// The technical account's linked structures (`rattachements`), typed: the
/// call behind `cpro health`'s structure list, and an example of `send`.
public struct LinkedStructure: Codable, Sendable, Equatable {
    public var idStructure: Int
    public var identifiantStructure: String
    public var typeIdentifiantStructure: String?
    public var designationStructure: String?
    public var statutUtilisateur: String?
    public var statutRattachementStructure: String?
    public var roleUtilisateur: String?
}

/// The body of `utilisateurs/v1/monCompte/recuperer/rattachements`.
public struct LinkedStructuresRequest: Encodable, Sendable {
    public struct Parameters: Encodable, Sendable {
        public var nbResultatsParPage: Int
        public var pageResultatDemandee: Int
    }
    public var parametresRecherche: Parameters

    public init(page: Int, perPage: Int = 100) {
        parametresRecherche = Parameters(nbResultatsParPage: perPage, pageResultatDemandee: page)
    }
}

/// Its answer (the `codeRetour` envelope is checked before decoding).
public struct LinkedStructuresAnswer: Decodable, Sendable {
    public struct Pages: Decodable, Sendable {
        public var pageCourante: Int?
        public var pages: Int?
        public var total: Int?
    }
    public var listeStructureRattachement: [LinkedStructure]?
    public var parametresRetour: Pages?
}

extension CproClient {
    public static let linkedStructuresPath = "utilisateurs/v1/monCompte/recuperer/rattachements"

    /// Every linked structure, all pages read (at most 100 pages of 100).
    public func linkedStructures() async throws -> [LinkedStructure] {
        var all: [LinkedStructure] = []
        var page = 1
        while page <= 100 {
            let answer = try await send(Self.linkedStructuresPath, LinkedStructuresRequest(page: page), as: LinkedStructuresAnswer.self)
            all += answer.listeStructureRattachement ?? []
            guard let pages = answer.parametresRetour?.pages, page < pages else { break }
            page += 1
        }
        return all
    }
}
