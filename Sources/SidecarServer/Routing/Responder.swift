import SidecarHTTP
import SidecarPosix

/// How a handler answers: at once, or later through its `Responder`.
package enum Reply: Sendable {
    /// The answer, written at once on the event loop.
    case now(HTTPResponse)
    /// The handler (or work it started) will call `Responder.respond` exactly once.
    case later
}

/// The one shape of every request handler, routes and middleware alike. It runs on the event
/// loop that read the request and must not block: work that waits returns `.later` and
/// answers through the responder from any thread.
package typealias HTTPHandler = @Sendable (HTTPRequest, Responder) -> Reply

/// Where a responder's answer goes: the server (one connection's pending request), or a
/// closure (tests, middleware that looks at the answer).
package protocol ResponderSink: AnyObject, Sendable {
    /// Takes the answer for the request `token` names; any thread.
    func deliver(_ token: UInt64, _ response: HTTPResponse)
    /// The event loop the requests arrive on, when there is one.
    var reactor: (any Reactor)? { get }
}

/// Delivers a later answer to the connection that waits for it. Call `respond` exactly once,
/// from any thread; the server ignores answers for connections that have gone.
package struct Responder: Sendable {
    // Few fields, one reference: a responder is made for every request, answered now or not.
    private let sink: any ResponderSink
    private let token: UInt64
    /// Put on the answer when it has none (`CorrelationMiddleware`): a field, not a wrapper,
    /// so that requests answered at once allocate nothing for it.
    private var correlation: CorrelationID?

    /// The event loop the request arrived on (nil outside a server): work started from the
    /// handler on that loop's thread can join it instead of handing over to another thread.
    package var reactor: (any Reactor)? { sink.reactor }

    /// A responder for the request `token` of `sink`.
    package init(sink: any ResponderSink, token: UInt64) {
        self.sink = sink
        self.token = token
    }

    /// A responder that calls `deliver` (tests use it to capture answers).
    package init(reactor: (any Reactor)? = nil, _ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.init(sink: ClosureSink(reactor, deliver), token: 0)
    }

    /// Sends the answer.
    package func respond(_ response: HTTPResponse) {
        guard let correlation, response.correlationID == nil else { return sink.deliver(token, response) }
        var r = response
        r.correlationID = correlation
        sink.deliver(token, r)
    }

    /// This responder, putting `id` on the answer.
    package func correlated(_ id: CorrelationID) -> Responder {
        var r = self
        r.correlation = id
        return r
    }

    /// A responder on the same loop that passes the answer through `transform` first.
    package func map(_ transform: @escaping @Sendable (HTTPResponse) -> HTTPResponse) -> Responder {
        let next = self
        return Responder(reactor: reactor) { next.respond(transform($0)) }
    }

    private final class ClosureSink: ResponderSink {
        let deliver: @Sendable (HTTPResponse) -> Void
        let reactor: (any Reactor)?
        init(_ reactor: (any Reactor)?, _ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
            self.reactor = reactor
            self.deliver = deliver
        }
        func deliver(_ token: UInt64, _ response: HTTPResponse) { deliver(response) }
    }
}

extension Responder {
    /// Runs `handler` for `request` back on the event loop the request came in on (here when
    /// there is none) and answers through this responder: how middleware that awaited
    /// something off the loop (a token check) hands the request on.
    package func resume(_ handler: @escaping HTTPHandler, _ request: HTTPRequest) {
        let responder = self
        let run: @Sendable () -> Void = {
            if case .now(let response) = handler(request, responder) { responder.respond(response) }
        }
        if let reactor { reactor.execute(run) } else { run() }
    }
}
