import Glibc
import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// Limits and timeouts of the HTTP server.
package struct ServerConfiguration: Sendable, Equatable {
    /// Parser limits: target, header block, field count, body.
    package var limits: ParserLimits
    /// Longest time to receive a whole request head, from its first byte (or from accept).
    package var headerTimeout: Duration
    /// Longest idle time between requests on a kept-alive connection.
    package var keepAliveTimeout: Duration
    /// Longest time to receive a request body once its head is in.
    package var bodyTimeout: Duration
    /// Longest time an answer may take to leave once the peer stops reading.
    package var sendTimeout: Duration
    /// How long a refused or closed connection keeps draining the peer's bytes before close,
    /// so the peer reads the answer instead of a reset.
    package var lingerTimeout: Duration
    /// Draining: how long a new connection that has sent nothing yet may still send its request
    /// (at most `headerTimeout`). Closing it at once would lose a request already on its way;
    /// 0.5 s still lost one request in ~100 rolling restarts on a loaded 2-core machine
    /// (`bench/supervisor-soak.sh`), 3 s none in 200.
    package var drainGrace: Duration = .seconds(3)
    /// Most open connections across all loops; past it new ones are closed at once.
    package var maxConnections: Int
    /// Event loops (threads); 0 means one per core.
    package var loops: Int

    /// The number of event loops this configuration runs (`loops`, or one per core).
    package var loopCount: Int { loops > 0 ? loops : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
    /// The listen(2) backlog (the kernel caps it at net.core.somaxconn).
    package var backlog: Int32

    package init(
        limits: ParserLimits = ParserLimits(), headerTimeout: Duration = .seconds(10), keepAliveTimeout: Duration = .seconds(30),
        bodyTimeout: Duration = .seconds(30), sendTimeout: Duration = .seconds(30), lingerTimeout: Duration = .seconds(2),
        maxConnections: Int = 10_000,
        loops: Int = 0, backlog: Int32 = 65535
    ) {
        self.limits = limits
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.bodyTimeout = bodyTimeout
        self.sendTimeout = sendTimeout
        self.lingerTimeout = lingerTimeout
        self.maxConnections = maxConnections
        self.loops = loops
        self.backlog = backlog
    }
}

/// One listening endpoint: a name for logs, where to bind, and what answers there.
package struct ListenerSpec: Sendable {
    package var name: String
    package var address: SocketAddress
    package var router: Router
    /// A listening socket opened by another process and inherited (`LISTEN_FDS`), served
    /// instead of binding `address` (whose port is then read from the socket).
    package var inherited: Int32?
    /// TLS on this listener: every connection speaks it. With a client CA, a connection
    /// without a verified client certificate may only reach `openPaths`.
    package var tls: TLSListener?
    /// The paths a TLS connection without a verified client certificate may reach when the
    /// listener asks for one (the probes, which Kubernetes calls without a certificate).
    package var openPaths: Set<String> = []

    /// A listener answering with `router` (its middleware applied when the server starts).
    package init(name: String, address: SocketAddress, router: Router) {
        self.name = name
        self.address = address
        self.router = router
    }

    /// A listener on the inherited listening socket `fd` (socket activation: fd 3 from
    /// `cluster-sidecar run` or systemd). It is made non-blocking, which every process
    /// sharing it sees.
    package init(name: String, inherited fd: Int32, router: Router) {
        self.init(name: name, address: SocketAddress(host: "0.0.0.0", port: 0)!, router: router)
        inherited = fd
    }
}

/// Why the server could not start: which listener, which address, which call.
package struct ServerStartError: Error, Sendable, CustomStringConvertible {
    package let listener: String
    package let address: SocketAddress
    package let underlying: SystemError

    /// True when the port is taken (the command exits 98).
    package var isAddressInUse: Bool { underlying.isAddressInUse }

    package var description: String {
        "cannot listen on \(address) (\(listener) listener): \(underlying)"
    }
}
