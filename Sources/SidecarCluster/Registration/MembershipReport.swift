/// What `POST /register` and `POST /unregister` answer: `{nbServers, serverId, errors?}`.
package struct MembershipReport: Sendable, Codable, Equatable {
    /// One failure: a label and, for a peer, which one.
    package struct Failure: Sendable, Codable, Equatable {
        package var code: String
        package var message: String
        package var serverId: String?
    }

    package var nbServers: Int
    package var serverId: String?
    package var errors: [Failure]?
}

/// The registration figures of `/status`. Times are ISO 8601; spans are seconds.
package struct RegistrationSnapshot: Sendable, Codable {
    package var status: String
    package var serverId: String?
    package var leaseTime: Double
    package var lastRegisteredAt: String?
    package var lastLeasedAt: String?
    package var nextLeaseInSeconds: Double?
    package var consecutiveFailures: Int
    /// The last registration failure's label (`mit_unavailable`, `mit_connect`, ...), nil after a success.
    package var lastError: String?
    /// Registration and lease calls since start, by result.
    package var counts = RegistrationStats()
    /// The registry URL in use (of `MIT_URL`'s), and the moves between them since start.
    package var registryUrl: String?
    package var registryMoves: Int?
}
