import SidecarClient
import SidecarHTTP
import SidecarPosix

/// One running instance of a microservice plus its sidecar, as the contract shapes it.
package struct ServerInfo: Sendable, Equatable, Codable {
    package var id: String
    package var type: String
    /// The application's public base URL (fan-out target).
    package var url: String
    /// The sidecar's public cluster URL.
    package var clusterUrl: String
    package var updatedAt: String?
    package var metadata: JSONValue?

    package init(id: String, type: String, url: String, clusterUrl: String, updatedAt: String? = nil, metadata: JSONValue? = nil) {
        self.id = id
        self.type = type
        self.url = url
        self.clusterUrl = clusterUrl
        self.updatedAt = updatedAt
        self.metadata = metadata
    }

    /// Why a body is not a server, or nil when it is one (ids non-empty, URLs http(s) with a host).
    package var problem: String? {
        if id.isEmpty { return "id is empty" }
        if type.isEmpty { return "type is empty" }
        if !Self.isHTTPURL(url) { return "url is not an http(s) URL" }
        if !Self.isHTTPURL(clusterUrl) { return "clusterUrl is not an http(s) URL" }
        return nil
    }

    /// A server object as a peer or mIT sends it (createItResource), checked field by field:
    /// `id`, `type`, `url`, `clusterUrl` required strings, `updatedAt` an optional string,
    /// `metadata` an optional object (what `/cluster/servers` serves back must keep the
    /// `Server` schema). The error names the field at fault.
    package static func checked(_ body: [UInt8]) -> Result<ServerInfo, ServerProblem> {
        guard case .object(let o)? = JSONValue.parse(body) else { return .failure(.init("body is not a JSON object")) }
        var strings: [String: String] = [:]
        for name in ["id", "type", "url", "clusterUrl"] {
            guard let v = o[name] else { return .failure(.init("\(name) is required")) }
            guard case .string(let text) = v else { return .failure(.init("\(name) must be a string")) }
            strings[name] = text
        }
        var updatedAt: String?
        switch o["updatedAt"] {
        case nil, .null?: break
        case .string(let text)?: updatedAt = text
        default: return .failure(.init("updatedAt must be a string"))
        }
        var metadata: JSONValue?
        switch o["metadata"] {
        case nil, .null?: break
        case .object(let m)?: metadata = .object(m)
        default: return .failure(.init("metadata must be an object"))
        }
        let server = ServerInfo(
            id: strings["id"]!, type: strings["type"]!, url: strings["url"]!, clusterUrl: strings["clusterUrl"]!, updatedAt: updatedAt,
            metadata: metadata)
        if let problem = server.problem { return .failure(.init(problem)) }
        return .success(server)
    }

    static func isHTTPURL(_ s: String) -> Bool {
        let lower = s.lowercased()
        guard let rest = lower.hasPrefix("http://") ? lower.dropFirst(7) : lower.hasPrefix("https://") ? lower.dropFirst(8) : nil else {
            return false
        }
        guard let first = rest.first, first != "/", first != "?", first != "#" else { return false }
        return s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}

/// Why a server object was refused, naming the field.
package struct ServerProblem: Error, Sendable, Equatable {
    package let message: String
    init(_ message: String) { self.message = message }
}

/// `POST {MIT_URL}/servers` body.
struct RegisterBody: Encodable {
    var id: String?
    var type: String
    var url: String
    var clusterUrl: String
    var cluster: Bool
    var metadata: JSONValue?
}

/// `POST {MIT_URL}/servers` answer: our id, the lease time (seconds) and the cluster's servers.
package struct RegisterAnswer: Decodable, Sendable {
    package var id: String
    package var type: String?
    package var leaseTime: Double?
    package var servers: [ServerInfo]?

    package init(id: String, type: String? = nil, leaseTime: Double? = nil, servers: [ServerInfo]? = nil) {
        self.id = id
        self.type = type
        self.leaseTime = leaseTime
        self.servers = servers
    }
}

/// `PUT {MIT_URL}/servers/{id}/lease` answer.
struct LeaseAnswer: Decodable, Sendable {
    var leaseTime: Double?
}
