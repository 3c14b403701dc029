import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// What every node of one fan-out receives: built and checked once, sent to each node after
/// its own request line and `Host` field.
package final class HTTP1Batch: Sendable {
    let method: String
    let path: String
    /// The header fields, `Content-Length` when there is a body (or the method expects one),
    /// and the empty line.
    let fieldBlock: [UInt8]
    let body: [UInt8]
    let timeout: Duration?

    /// The shared part of a request; nil when a field name is not a token or a value holds a
    /// byte a field value may not (the requests would not be what the caller meant).
    package init?(method: String, path: String, headers: [(String, String)], body: [UInt8], timeout: Duration?) {
        var block: [UInt8] = []
        block.reserveCapacity(headers.count * 48 + 32)
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy({ ByteClass.isToken($0) }), value.utf8.allSatisfy({ ByteClass.isFieldValue($0) })
            else {
                return nil
            }
            block.append(contentsOf: name.utf8)
            block.append(contentsOf: [0x3A, 0x20])
            block.append(contentsOf: value.utf8)
            block.append(contentsOf: [0x0D, 0x0A])
        }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" {
            block.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        block.append(contentsOf: [0x0D, 0x0A])
        guard method.utf8.allSatisfy({ ByteClass.isToken($0) }), !method.isEmpty, path.utf8.allSatisfy({ ByteClass.isTarget($0) }) else {
            return nil
        }
        self.method = method
        self.path = path
        fieldBlock = block
        self.body = body
        self.timeout = timeout
    }

    /// `METHOD basePath+path HTTP/1.1`, `Host`, for one node.
    func requestLine(_ node: NodeAddress) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(method.utf8.count + node.basePath.utf8.count + path.utf8.count + node.host.utf8.count + 24)
        line.append(contentsOf: method.utf8)
        line.append(0x20)
        line.append(contentsOf: node.basePath.utf8)
        line.append(contentsOf: path.utf8)
        line.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        line.append(contentsOf: node.host.utf8)
        line.append(contentsOf: [0x0D, 0x0A])
        return line
    }
}

/// Receives the outcome of each node request of a batch, on the engine's thread.
package protocol HTTP1Sink: AnyObject {
    /// Node `index` of the batch ended with `result`.
    func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>)
}

/// One node request as the shell holds it (the ticket of `HTTP1PoolMachine`'s request): what
/// to send, and where its outcome goes.
struct HTTP1Exchange {
    let sink: any HTTP1Sink
    let index: Int
    let batch: HTTP1Batch
    let line: [UInt8]
    let started: UInt64

    var isHead: Bool { batch.method == "HEAD" }
    var length: Int { line.count + batch.fieldBlock.count + batch.body.count }
}

/// One connection to a node as the shell holds it: its socket and the bytes of its exchange.
final class HTTP1Connection {
    enum State {
        /// The non-blocking connect has not finished.
        case connecting
        /// Connected; the TLS handshake runs.
        case handshaking
        /// The request is going out; `sent` bytes of it left already.
        case sending(sent: Int)
        /// The answer is coming in.
        case receiving
        /// Carrying no request.
        case idle
    }

    /// The machine's name for it.
    let id: Int
    /// Its epoll token: the id, and which connection of that id it is.
    let token: UInt64
    let fd: Int32
    /// How its bytes cross the socket.
    let transport: Transport
    /// Its TLS session, when it has one, and whether the session it ended with was kept.
    var tls: TLSSession? {
        if case .tls(let session) = transport { return session }
        return nil
    }
    var resumptionKept = false
    var state: State
    /// The request it carries.
    var request: HTTP1PoolMachine<NodeAddress.Pool, HTTP1Exchange>.Request?
    var parser = HTTPResponseParser(isHead: false, maxBodyBytes: 0)
    /// It carried an answer already (for `ClientResponse.newConnections`).
    var reused = false
    /// What epoll watches it for.
    var events: UInt32

    init(id: Int, token: UInt64, fd: Int32, state: State, events: UInt32, transport: Transport = .plain) {
        self.id = id
        self.token = token
        self.fd = fd
        self.transport = transport
        self.state = state
        self.events = events
    }
}
