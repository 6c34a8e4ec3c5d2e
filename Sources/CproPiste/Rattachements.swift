#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON scalar as Chorus Pro sends it: the same field is a number in one
/// answer and a string in another (codeRetour, idStructure, pages), so the
/// typed answers read these fields through it.
public enum JSONScalar: Decodable, Sendable, Equatable {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    /// A whole number, written as one or as a string holding one.
    public var integer: Int? {
        switch self {
        case .integer(let i): i
        case .number(let d): d.rounded() == d && abs(d) < 1e15 ? Int(d) : nil
        case .string(let s): Int(s.trimmed())
        default: nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Any scalar as text: an identifier sent as a number stays readable.
    public var text: String? {
        switch self {
        case .string(let s): s
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .bool(let b): String(b)
        case .null: nil
        }
    }
}

/// One structure the technical account is linked to, as the rattachements
/// answer gives it. Read leniently: a field of another type is absent, an
/// identifier sent as a number is kept as text.
public struct LinkedStructure: Codable, Sendable, Equatable {
    public var idStructure: Int?
    public var identifiantStructure: String
    public var designationStructure: String
    public var typeIdentifiantStructure: String?
    public var statutRattachementStructure: String?
    public var statutUtilisateur: String?
    public var roleUtilisateur: String?

    public init(idStructure: Int?, identifiantStructure: String, designationStructure: String, typeIdentifiantStructure: String? = nil,
                statutRattachementStructure: String? = nil, statutUtilisateur: String? = nil, roleUtilisateur: String? = nil) {
        self.idStructure = idStructure
        self.identifiantStructure = identifiantStructure
        self.designationStructure = designationStructure
        self.typeIdentifiantStructure = typeIdentifiantStructure
        self.statutRattachementStructure = statutRattachementStructure
        self.statutUtilisateur = statutUtilisateur
        self.roleUtilisateur = roleUtilisateur
    }

    enum CodingKeys: String, CodingKey {
        case idStructure, identifiantStructure, designationStructure, typeIdentifiantStructure
        case statutRattachementStructure, statutUtilisateur, roleUtilisateur
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func scalar(_ key: CodingKeys) -> JSONScalar? { (try? c.decodeIfPresent(JSONScalar.self, forKey: key)) ?? nil }
        idStructure = scalar(.idStructure)?.integer
        identifiantStructure = scalar(.identifiantStructure)?.text ?? ""
        designationStructure = scalar(.designationStructure)?.string ?? ""
        typeIdentifiantStructure = scalar(.typeIdentifiantStructure)?.string
        statutRattachementStructure = scalar(.statutRattachementStructure)?.string
        statutUtilisateur = scalar(.statutUtilisateur)?.string
        roleUtilisateur = scalar(.roleUtilisateur)?.string
    }

    static func isActive(_ status: String?) -> Bool {
        guard let s = status?.uppercased() else { return true }
        return ["ACTIF", "ACTIVE", "ACTIVEE", "ACTIVÉ", "ACTIVÉE"].contains(s)
    }

    /// The structure and the account's link to it are both active (an
    /// absent status counts as active: not every answer gives them).
    public var isActive: Bool { Self.isActive(statutRattachementStructure) && Self.isActive(statutUtilisateur) }
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

/// One page of that answer (the `codeRetour` envelope is checked before).
/// The list is `listeStructureRattachement`; one third-party guide names it
/// `listeRattachements`: both are read. A list that is not a list of
/// objects reads as empty, and the page count defaults to 1.
public struct LinkedStructuresPage: Decodable, Sendable {
    public var structures: [LinkedStructure]
    public var pages: Int

    public static let path = "utilisateurs/v1/monCompte/recuperer/rattachements"

    enum CodingKeys: String, CodingKey { case listeStructureRattachement, listeRattachements, parametresRetour }
    enum ReturnKeys: String, CodingKey { case pages }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let list = c.contains(.listeStructureRattachement) ? CodingKeys.listeStructureRattachement : .listeRattachements
        structures = (try? c.decodeIfPresent([LinkedStructure].self, forKey: list)) ?? []
        let params = try? c.nestedContainer(keyedBy: ReturnKeys.self, forKey: .parametresRetour)
        pages = ((try? params?.decodeIfPresent(JSONScalar.self, forKey: .pages)) ?? nil)?.integer ?? 1
    }
}

/// `structures/v1/consulter`'s answer, for the one field cpro reads: when
/// the technical account's password expires (seen in client libraries,
/// unconfirmed live).
package struct StructureDetails: Decodable, Sendable {
    package var passwordExpiry: JSONScalar?

    enum CodingKeys: String, CodingKey { case informationGenerales }
    enum GeneralKeys: String, CodingKey { case dateExpirationMotPasseCompteTech }

    package init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let general = try? c.nestedContainer(keyedBy: GeneralKeys.self, forKey: .informationGenerales)
        passwordExpiry = (try? general?.decodeIfPresent(JSONScalar.self, forKey: .dateExpirationMotPasseCompteTech)) ?? nil
    }
}
