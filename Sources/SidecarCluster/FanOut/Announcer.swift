import SidecarClient
import SidecarHTTP
import SidecarPosix

/// The lifecycle's peer calls: POST /itResources after a registration, DELETE /servers/{id}
/// before leaving; each peer's cluster URL, a cluster token, failures reported.
package struct Announcer: Sendable {
    let client: CurlClient
    let tokens: TokenProvider?
    let timeout: Duration

    package init(client: CurlClient, tokens: TokenProvider?, timeout: Duration = .seconds(5)) {
        self.client = client
        self.tokens = tokens
        self.timeout = timeout
    }

    package func announce(_ me: ServerInfo, to peers: [ServerInfo]) async -> [MembershipReport.Failure] {
        await each(peers, "POST", "/itResources", JSONCoding.encode(me))
    }

    /// Tells each peer we leave. A peer that refuses the connection has stopped listening: it
    /// is leaving too (a whole cluster stopping at once), so there is no one left to tell and
    /// nothing worth reporting; every other failure is reported.
    package func leave(_ me: ServerInfo, to peers: [ServerInfo]) async -> [MembershipReport.Failure] {
        await each(peers, "DELETE", "/servers/\(FormEncoding.escape(me.id))", nil).filter { $0.code != ClientError.Code.connect.rawValue }
    }

    private func each(_ peers: [ServerInfo], _ method: String, _ path: String, _ body: [UInt8]?) async -> [MembershipReport.Failure] {
        guard !peers.isEmpty else { return [] }
        var headers: [(String, String)] = body == nil ? [] : [("Content-Type", "application/json")]
        do {
            if let token = try await tokens?.token(cluster: true) { headers.append(("Authorization", "Bearer \(token.value)")) }
        } catch {
            return peers.map { .init(code: error.label, message: "no cluster token", serverId: $0.id) }
        }
        let sendHeaders = headers
        return await withTaskGroup(of: MembershipReport.Failure?.self) { group in
            for peer in peers {
                group.addTask { [client, timeout] in
                    let base = peer.clusterUrl.hasSuffix("/") ? String(peer.clusterUrl.dropLast()) : peer.clusterUrl
                    do throws(ClientError) {
                        let r = try await client.execute(
                            ClientRequest(method: method, url: base + path, headers: sendHeaders, body: body ?? [], timeout: timeout))
                        if (200..<300).contains(r.status) || (method == "DELETE" && r.status == 404) { return nil }
                        return .init(code: "http_status", message: "peer answered \(r.status)", serverId: peer.id)
                    } catch {
                        return .init(code: error.label, message: error.message, serverId: peer.id)
                    }
                }
            }
            var failures: [MembershipReport.Failure] = []
            for await f in group { if let f { failures.append(f) } }
            return failures.sorted { ($0.serverId ?? "") < ($1.serverId ?? "") }
        }
    }
}
