import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer

/// `POST /cluster/fanout` and `/cluster/proxy/{path}` (every method) on the local API.
///
/// Both answer through a `Responder`: the nodes' requests run on the event loop that received
/// the call (our own client for `http://` nodes, libcurl for the others, both on the loop's
/// epoll). When a fan-out needs no retries and its token is at hand, it starts there at once
/// and the answer is written from there, with no thread hand-over; otherwise a task fetches the
/// token and waits out the backoffs, and each round runs on that loop.
///
/// With `Accept: application/x-ndjson` the answer is streamed (`StreamedFanOut`): its head
/// leaves at once and each node's line as that node finishes.
package enum FanOutRoutes {
    package static func add(to router: inout Router, context: SidecarContext, fanOut: FanOut) {
        router.onDeferred(
            "POST", "/cluster/fanout",
            deferred(context: context, fanOut: fanOut) { request in
                do throws(FanOutRequest.Invalid) {
                    return .success(try FanOutRequest.parse(body: request.body, defaultTimeout: fanOut.settings.timeout))
                } catch {
                    return .failure(error)
                }
            })
        let dropAuthorization = context.configuration.localAPIToken != nil
        for method in FanOutRequest.methods.sorted() {
            router.onDeferred(
                method, "/cluster/proxy/{path...}",
                deferred(context: context, fanOut: fanOut) { request in
                    // The server resolved dot segments for routing; a proxied path must not have had any.
                    if request.head.pathAsSent != nil { return .failure(.init(message: "url must not hold a . or .. segment")) }
                    do throws(FanOutRequest.Invalid) {
                        var parsed = try FanOutRequest.proxy(
                            request, rest: request.pathParameters["path"] ?? "", defaultTimeout: fanOut.settings.timeout,
                            dropAuthorization: dropAuthorization)
                        // An Accept that asks the sidecar to stream, and nothing else, is not the nodes'.
                        if streams(request) {
                            parsed.headers.removeAll { $0.0.lowercased() == "accept" && StreamedFanOut.only($0.1) }
                        }
                        return .success(parsed)
                    } catch {
                        return .failure(error)
                    }
                })
        }
    }

    /// A deferred handler: parses, then runs the fan-out.
    private static func deferred(
        context: SidecarContext, fanOut: FanOut, _ parse: @escaping @Sendable (HTTPRequest) -> Result<FanOutRequest, FanOutRequest.Invalid>
    ) -> Router.DeferredHandler {
        { request, responder in
            switch parse(request) {
            case .failure(let invalid):
                responder.respond(.error(400, code: "bad_fanout", message: invalid.message))
            case .success(let parsed):
                run(parsed, request, context, fanOut, responder)
            }
        }
    }

    /// The answer beyond `FANOUT_MAX_PENDING`: at once, nothing sent anywhere.
    static let overloaded = HTTPResponse.error(
        503, code: "fanout_overloaded", message: "too many fan-outs in flight (FANOUT_MAX_PENDING): retry shortly",
        fields: HTTPFields([("Retry-After", "1")]))

    /// The answer while the answers in flight hold `FANOUT_MAX_BUFFERED_BYTES`: at once,
    /// nothing sent anywhere.
    static let overBudget = HTTPResponse.error(
        503, code: "fanout_overloaded", message: "the answers of the fan-outs in flight fill FANOUT_MAX_BUFFERED_BYTES: retry shortly",
        fields: HTTPFields([("Retry-After", "1")]))

    static func run(_ parsed: FanOutRequest, _ request: HTTPRequest, _ context: SidecarContext, _ fanOut: FanOut, _ responder: Responder) {
        guard fanOut.budget.admits(limit: fanOut.settings.maxBufferedBytes, inFlight: fanOut.pending.current) else {
            return responder.respond(overBudget)
        }
        guard fanOut.pending.enter(max: fanOut.settings.maxPending) else { return responder.respond(overloaded) }
        let pending = fanOut.pending
        let budget = fanOut.budget
        let servers = context.view.snapshot().servers
        let selfID = context.registrar?.currentID.withLock { $0 } ?? context.me?.id
        let (metrics, clock) = (context.metrics, context.clock)
        let started = clock.now
        let streamed = streams(request) ? StreamedFanOut(budget: budget) : nil
        let hint = noNodes(servers, selfID: selfID, parsed, context)
        if let hint { fanOut.noteNoNodes(hint) }
        if parsed.retries == 0, case .some(let token) = fanOut.tokenIfReady(parsed) {
            if let streamed { responder.respond(streamed.head) }
            fanOut.start(
                parsed, servers: servers, selfID: selfID, correlationID: request.correlationID, token: token, on: responder.reactor,
                spreadOver: { context.loops }, listener: streamed
            ) { result in
                pending.leave()
                metrics.fanOutFinished(result, duration: started.duration(to: clock.now))
                if let streamed { return streamed.close(result, hint: hint) }
                responder.respond(answer(result, hint: hint))
                budget.release(result)
            }
            return
        }
        let correlationID = request.correlationID
        Task {
            defer { pending.leave() }
            do throws(FanOut.Unavailable) {
                // A streamed answer starts once the token is known: a 502 can still be said plainly.
                let token = try await fanOut.token(for: parsed)
                if let streamed { responder.respond(streamed.head) }
                let result = try await fanOut.run(
                    parsed, servers: servers, selfID: selfID, correlationID: correlationID, on: responder.reactor, token: .some(token),
                    listener: streamed)
                metrics.fanOutFinished(result, duration: started.duration(to: clock.now))
                if let streamed { return streamed.close(result, hint: hint) }
                responder.respond(answer(result, hint: hint))
                budget.release(result)
            } catch {
                responder.respond(.error(502, code: "fanout_unavailable", message: error.message))
            }
        }
    }

    /// Whether the caller asked for a streamed answer (`Accept: application/x-ndjson`); never
    /// for HEAD, whose answer has no body.
    static func streams(_ request: HTTPRequest) -> Bool {
        request.method != "HEAD" && request.fields.values("accept").contains(where: StreamedFanOut.wanted)
    }

    static func answer(_ result: FanOutResult, hint: String? = nil) -> HTTPResponse {
        HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", "application/json")]), body: result.json(hint: hint))
    }

    /// Why a fan-out has no node to send to, in words a user can act on (nil when it has some).
    static func noNodes(_ servers: [ServerInfo], selfID: String?, _ request: FanOutRequest, _ context: SidecarContext) -> String? {
        guard !servers.contains(where: { request.includeSelf || $0.id != selfID }) else { return nil }
        if !servers.isEmpty { return "the cluster view holds only this sidecar, and includeSelf is false" }
        if context.configuration.mitURL == nil {
            return "this sidecar knows no node: MIT_URL is unset (no registry, so no peers) and SERVER_URL is unset (so not even "
                + "its own application); set SERVER_URL for a cluster of one, or MIT_URL, SERVER_TYPE and SERVER_URL to join a cluster"
        }
        return "the cluster view is empty: this sidecar has not registered with MIT_URL yet, or the registry lists no server "
            + "(GET /status says why)"
    }
}
