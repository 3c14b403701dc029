import SidecarPosix
import SidecarHTTP
import SidecarClient
/// One running instance of a microservice plus its sidecar, as the contract shapes it.
public struct ServerInfo: Sendable, Equatable, Codable {
    public var id: String
    public var type: String
    /// The application's public base URL (fan-out target).
    public var url: String
    /// The sidecar's public cluster URL.
    public var clusterUrl: String
    public var updatedAt: String?
    public var metadata: JSONValue?

    public init(id: String, type: String, url: String, clusterUrl: String, updatedAt: String? = nil, metadata: JSONValue? = nil) {
        self.id = id
        self.type = type
        self.url = url
        self.clusterUrl = clusterUrl
        self.updatedAt = updatedAt
        self.metadata = metadata
    }

    /// Why a body is not a server, or nil when it is one (ids non-empty, URLs http(s) with a host).
    public var problem: String? {
        if id.isEmpty { return "id is empty" }
        if type.isEmpty { return "type is empty" }
        if !Self.isHTTPURL(url) { return "url is not an http(s) URL" }
        if !Self.isHTTPURL(clusterUrl) { return "clusterUrl is not an http(s) URL" }
        return nil
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
public struct RegisterAnswer: Decodable, Sendable {
    public var id: String
    public var type: String?
    public var leaseTime: Double?
    public var servers: [ServerInfo]?

    public init(id: String, type: String? = nil, leaseTime: Double? = nil, servers: [ServerInfo]? = nil) {
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
