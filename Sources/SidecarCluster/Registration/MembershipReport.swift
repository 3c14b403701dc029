/// What `POST /register` and `POST /unregister` answer: `{nbServers, serverId, errors?}`.
public struct MembershipReport: Sendable, Codable, Equatable {
    /// One failure: a label and, for a peer, which one.
    public struct Failure: Sendable, Codable, Equatable {
        public var code: String
        public var message: String
        public var serverId: String?
    }

    public var nbServers: Int
    public var serverId: String?
    public var errors: [Failure]?
}

/// The registration figures of `/status`. Times are ISO 8601; spans are seconds.
public struct RegistrationSnapshot: Sendable, Codable {
    public var status: String
    public var serverId: String?
    public var leaseTime: Double
    public var lastRegisteredAt: String?
    public var lastLeasedAt: String?
    public var nextLeaseInSeconds: Double?
    public var consecutiveFailures: Int
    /// The last registration failure's label (`mit_unavailable`, `mit_connect`, ...), nil after a success.
    public var lastError: String?
    /// Registration and lease calls since start, by result.
    public var counts = RegistrationStats()
}
