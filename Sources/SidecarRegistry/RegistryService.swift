import FoundationEssentials
import Logging
import ServiceLifecycle
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSettings
import Synchronization

/// The embedded registry: the mIT side of the contract in memory, plus a development token
/// endpoint (client-credentials, HS256 with a secret shared with the sidecars it serves).
///
/// A `Service`: `run()` drops servers that missed three leases until graceful shutdown.
package final class RegistryService: Service {
    /// Registry settings.
    package struct Settings: Sendable {
        package var leaseTime: Duration
        /// The HS256 secret: signs tokens; the sidecars check cluster calls with it (JWT_SECRET).
        package var secret: Secret
        /// The one client the token endpoint serves (`REGISTRY_CLIENT_ID`, `REGISTRY_CLIENT_SECRET`):
        /// every other client id or secret is refused, compared in constant time.
        package var clientID: String
        package var clientSecret: Secret
        package var tokenLifetime: Duration

        package init(
            leaseTime: Duration = .seconds(60), secret: Secret, clientID: String, clientSecret: Secret,
            tokenLifetime: Duration = .seconds(3600)
        ) {
            self.leaseTime = leaseTime
            self.secret = secret
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.tokenLifetime = tokenLifetime
        }
    }

    static let issuer = "cluster-sidecar-registry"

    private let settings: Settings
    private let backend: any RegistryBackend
    private let memory: MemoryBackend?
    private let pusher: EtcdPusher?
    private let mirror: EtcdMirror?
    private let etcdClient: EtcdClient?
    /// Memory store: the changes to tell, queued by the handlers and the expiry.
    private let queued = AsyncStream.makeStream(of: PushNotice.self)
    private let replica: String
    private let client: CurlClient
    private let keys: HS256Keys
    private let logger: Logger
    private let clock: any SidecarClock
    private let counter = Atomic<Int>(0)
    /// What the registry counts for `/metrics`.
    let metrics = RegistryMetrics()

    /// Where the servers are kept.
    package enum Store: Sendable {
        /// This process's memory (the default; the demo's).
        case memory
        /// etcd, under the keys' prefix, shared by any number of replicas.
        case etcd(EtcdClient, EtcdKeys)
    }

    package init(
        settings: Settings, store: Store = .memory, client: CurlClient, keys: HS256Keys, logger: Logger,
        clock: any SidecarClock = SystemClock()
    ) {
        self.clock = clock
        self.settings = settings
        self.client = client
        self.keys = keys
        self.logger = logger
        replica = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        switch store {
        case .memory:
            mirror = nil
            let memory = MemoryBackend(leaseTime: settings.leaseTime, clock: clock)
            self.memory = memory
            backend = memory
            pusher = nil
            etcdClient = nil
        case .etcd(let etcd, let etcdKeys):
            memory = nil
            let onEtcd = EtcdBackend(etcd: etcd, keys: etcdKeys, leaseTime: settings.leaseTime, logger: logger)
            backend = onEtcd
            mirror = onEtcd.mirror
            pusher = EtcdPusher(etcd: etcd, keys: etcdKeys, replica: replica, logger: logger)
            etcdClient = etcd
        }
    }

    /// The registry's routes.
    package func router() -> Router {
        var r = Router()
        r.on("GET", "/healthz") { _ in .json(200, #"{"status":"ok"}"#) }
        r.onAsync("POST", "/oauth/token") { [self] in await token($0) }
        r.group(RegistryAuthMiddleware(keys: keys)) { r in
            r.onAsync("POST", "/servers") { [self] in await register($0) }
            r.onAsync("GET", "/servers") { [self] request in
                let type = request.query.map(FormEncoding.parse)?["type"]
                return await stored { () async throws(EtcdFailure) in
                    .json(200, bytes: Array(#"{"servers":"#.utf8) + (try await backend.listJSON(type: type)) + [UInt8(ascii: "}")])
                }
            }
            r.onAsync("PUT", "/servers/{id}/lease") { [self] request in
                let id = request.pathParameters["id"] ?? ""
                return await stored { () async throws(EtcdFailure) in
                    guard try await backend.renew(id: id) else { return .error(404, code: "not_found", message: "no such server") }
                    return .json(200, encoding: ["leaseTime": settings.leaseTime.seconds])
                }
            }
            r.onAsync("DELETE", "/servers/{id}") { [self] request in
                let id = request.pathParameters["id"] ?? ""
                return await stored { () async throws(EtcdFailure) in
                    guard let (server, peers) = try await backend.remove(id: id) else {
                        return .error(404, code: "not_found", message: "no such server")
                    }
                    logger.info("server left", metadata: ["server.id": "\(server.id)", "server.type": "\(server.type)"])
                    queue(PushNotice(kind: .left, server: server, peers: peers))
                    return .json(200, encoding: ["id": id])
                }
            }
            r.onAsync("GET", "/status") { [self] _ in .json(200, encoding: status()) }
        }
        r.on("GET", "/metrics") { [self] _ in metrics.response(leading: isLeader) }
        return r
    }

    /// What `GET /status` shows: the store, and on etcd whether this replica pushes.
    private struct Status: Encodable {
        struct Etcd: Encodable {
            var endpoint: String
            var moves: Int
            var errors: Int
        }
        var store: String
        var replica: String
        var leader: Bool
        var leaseTime: Double
        var etcd: Etcd?
    }

    private func status() -> Status {
        Status(
            store: backend.name, replica: replica, leader: pusher?.isLeader ?? true, leaseTime: settings.leaseTime.seconds,
            etcd: etcdClient.map { Status.Etcd(endpoint: $0.endpoints.current, moves: $0.endpoints.moves, errors: $0.errors) })
    }

    /// Runs a handler on the store: a store no member of which answers is a 503, never a wrong
    /// answer; a call etcd refused is a 500.
    private func stored(_ handler: () async throws(EtcdFailure) -> HTTPResponse) async -> HTTPResponse {
        do {
            return try await handler()
        } catch {
            metrics.storeErrors.increment()
            logger.warning("store call failed", metadata: ["error": "\(error)"])
            if error.kind == .unavailable {
                var fields = HTTPFields()
                fields.append("Retry-After", "1")
                return .error(503, code: "store_unavailable", message: error.message, fields: fields)
            }
            return .error(500, code: "store_failed", message: error.message)
        }
    }

    /// Memory: drops servers that missed three lease intervals, once a second, and tells the
    /// changes the handlers queued. etcd: campaigns for the pushes, and pushes while leading.
    /// Both until graceful shutdown.
    package func run() async {
        await cancelWhenGracefulShutdown { [self] in
            if let pusher, let mirror {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await mirror.run() }
                    group.addTask { await pusher.run { await self.push($0) } }
                }
                return
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.tellQueued() }
                while !Task.isCancelled {
                    do { try await clock.sleep(until: clock.now + .seconds(1), tolerance: nil) } catch { break }
                    expire()
                }
                queued.continuation.finish()
            }
        }
    }

    /// Drops the servers whose leases ran out now and queues the telling of their peers.
    package func expire() {
        for (server, peers) in memory?.expire() ?? [] {
            logger.info("server dropped: lease expired", metadata: ["server.id": "\(server.id)"])
            queue(PushNotice(kind: .left, server: server, peers: peers))
        }
    }

    /// Memory store: a change to tell, after the handler that made it has answered.
    private func queue(_ notice: PushNotice) {
        if !notice.peers.isEmpty { queued.continuation.yield(notice) }
    }

    /// Tells the queued changes as the etcd pusher does: several at once, a server's in order,
    /// so neither a registration's answer nor the next change waits for a slow peer.
    private func tellQueued() async {
        var window = PushWindow()
        for await notice in queued.stream {
            await window.start(notice.server.id, at: 0) { await self.tell(notice) }
        }
        await window.finishAll()
    }

    /// Forgets every server (fault switch: a registry that lost its memory).
    package func forgetAll() { memory?.forgetAll() }

    /// The servers known now (memory store).
    package func servers() -> [ServerInfo] { memory?.servers() ?? [] }

    /// `memory` or `etcd`.
    package var storeName: String { backend.name }

    /// Whether this replica pushes changes (always, on the memory store).
    package var isLeader: Bool { pusher?.isLeader ?? true }

    // MARK: handlers

    private struct RegisterRequest: Decodable {
        var id: String?
        var type: String
        var url: String
        var clusterUrl: String
        var cluster: Bool?
        var metadata: JSONValue?
    }

    private func register(_ request: HTTPRequest) async -> HTTPResponse {
        guard let body = JSONCoding.decode(RegisterRequest.self, request.body) else {
            return .error(400, code: "bad_request", message: "body is not a registration")
        }
        let candidate = ServerInfo(id: body.id ?? "x", type: body.type, url: body.url, clusterUrl: body.clusterUrl)
        if let problem = candidate.problem { return .error(400, code: "bad_request", message: problem) }
        if let problem = ClusterView.Limits().problem(metadata: body.metadata) {
            return .error(413, code: "server_too_large", message: problem)
        }
        let new = NewServer(
            id: body.id, type: body.type, url: body.url, clusterUrl: body.clusterUrl, cluster: body.cluster ?? true, metadata: body.metadata
        )
        let wall = WallClock.iso(clock.wallTime(of: clock.now))
        return await stored { () async throws(EtcdFailure) in
            let r = try await backend.register(new, wall: wall) { [self] in
                "\(body.type)-\(counter.add(1, ordering: .relaxed).newValue)-\(UInt32.random(in: 0...UInt32.max))"
            }
            return registered(r)
        }
    }

    /// Logs and queues a join, and makes the registration's answer.
    private func registered(_ r: RegistryStore.Registration) -> HTTPResponse {
        if r.created {
            // On etcd the join is told (and logged) by the replica that pushes.
            logger.info(
                memory == nil ? "server registered" : "server joined",
                metadata: ["server.id": "\(r.server.id)", "server.type": "\(r.server.type)", "members": "\(r.members.count)"])
            queue(PushNotice(kind: .joined, server: r.server, peers: r.peersToTell))
        }
        // The reply's keys in sorted order, as JSONCoding writes them; the servers as encoded once.
        var reply = Array(#"{"id":"#.utf8) + JSONCoding.encode(r.server.id)
        reply += Array(#","leaseTime":"#.utf8) + JSONCoding.encode(settings.leaseTime.seconds)
        reply += Array(#","servers":"#.utf8) + r.membersJSON
        reply += Array(#","type":"#.utf8) + JSONCoding.encode(r.server.type) + [UInt8(ascii: "}")]
        return .json(r.created ? 201 : 200, bytes: reply)
    }

    private func token(_ request: HTTPRequest) async -> HTTPResponse {
        let form = FormEncoding.parse(String(decoding: request.body, as: UTF8.self))
        guard form["grant_type"] == "client_credentials" else {
            return .json(400, #"{"error":"unsupported_grant_type"}"#)
        }
        guard let id = form["client_id"], let secret = form["client_secret"] else {
            return .json(401, #"{"error":"invalid_client"}"#)
        }
        // Both compared, whatever the first says: the time does not tell which one was wrong.
        let idMatches = SecretComparison.equals(id.utf8, settings.clientID.utf8)
        let secretMatches = SecretComparison.equals(secret, settings.clientSecret)
        guard idMatches && secretMatches else {
            return .json(401, #"{"error":"invalid_client"}"#)
        }
        let claims = ClusterClaims(
            issuer: Self.issuer, subject: id, issuedAt: Date(), lifetime: settings.tokenLifetime.seconds, cluster: form["cluster"] == "true"
        )
        guard let jwt = try? await keys.sign(claims) else { return .error(500, code: "signing_failed", message: "could not sign a token") }
        return .json(200, encoding: TokenReply(access_token: jwt, token_type: "Bearer", expires_in: settings.tokenLifetime.seconds))
    }

    private struct TokenReply: Encodable {
        var access_token: String
        var token_type: String
        var expires_in: Double
    }

    /// Pushes one change the etcd watch saw.
    private func push(_ notice: PushNotice) async {
        logger.info(
            notice.kind == .joined ? "server joined" : "server left",
            metadata: ["server.id": "\(notice.server.id)", "server.type": "\(notice.server.type)", "peers": "\(notice.peers.count)"])
        await tell(notice)
    }

    /// Tells the notice's peers of its server: a join (`POST /itResources`) or a leave
    /// (`DELETE /servers/{id}`), with a cluster token the registry signs; failures are logged,
    /// not retried. The calls are the sidecars' own announcements (`Announcer`).
    private func tell(_ notice: PushNotice) async {
        let (peers, server) = (notice.peers, notice.server)
        guard !peers.isEmpty else { return }
        let claims = ClusterClaims(issuer: Self.issuer, subject: Self.issuer, issuedAt: Date(), lifetime: 300, cluster: true)
        guard let jwt = try? await keys.sign(claims) else { return }
        let announcer = Announcer(client: client, tokens: TokenProvider(source: .fixed(Secret(jwt)), client: client))
        let failures = notice.kind == .joined ? await announcer.announce(server, to: peers) : await announcer.leave(server, to: peers)
        metrics.recordPushes(notice.kind.rawValue, calls: peers.count, failed: failures.count)
        for failure in failures {
            logger.info("peer not told", metadata: ["peer": "\(failure.serverId ?? "?")", "error": "\(failure.code)"])
        }
    }
}
