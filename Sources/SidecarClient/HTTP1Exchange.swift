import SidecarHTTP
import SidecarPosix

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

/// One node request, from start to its one outcome.
final class HTTP1Exchange {
    let sink: any HTTP1Sink
    let index: Int
    let batch: HTTP1Batch
    let line: [UInt8]
    let pool: HTTP1Pool
    let started: UInt64
    /// When it fails with `timeout`.
    let deadline: UInt64
    /// Its place in the engine's deadline heap (-1: not in it).
    var heapIndex = -1
    var connection: HTTP1Connection?
    /// Sent again already, after a kept-alive connection closed before answering.
    var resent = false
    var finished = false

    init(sink: any HTTP1Sink, index: Int, batch: HTTP1Batch, line: [UInt8], pool: HTTP1Pool, started: UInt64, deadline: UInt64) {
        self.sink = sink
        self.index = index
        self.batch = batch
        self.line = line
        self.pool = pool
        self.started = started
        self.deadline = deadline
    }

    var isHead: Bool { batch.method == "HEAD" }
    var length: Int { line.count + batch.fieldBlock.count + batch.body.count }
}

/// One connection to a node, owned by its pool.
final class HTTP1Connection {
    enum State {
        /// The non-blocking connect has not finished; it fails with `connect` at `deadline`.
        case connecting(deadline: UInt64)
        /// The request is going out; `sent` bytes of it left already.
        case sending(sent: Int)
        /// The answer is coming in.
        case receiving
        /// Kept alive between requests, since `since`.
        case idle(since: UInt64)
    }

    let fd: Int32
    /// How its bytes cross the socket (plain; TLS next).
    let transport: Transport
    unowned let pool: HTTP1Pool
    var state: State
    var exchange: HTTP1Exchange?
    var parser = HTTPResponseParser(isHead: false, maxBodyBytes: 0)
    /// It carried an answer already (a failure before any byte of the next one may just mean
    /// the node closed it while idle).
    var reused = false
    /// What epoll watches it for.
    var events: UInt32

    init(fd: Int32, pool: HTTP1Pool, state: State, events: UInt32, transport: Transport = .plain) {
        self.fd = fd
        self.transport = transport
        self.pool = pool
        self.state = state
        self.events = events
    }
}

/// A node's connections: idle ones kept for reuse, and the requests waiting for one.
final class HTTP1Pool {
    let address: SocketAddress
    var idle: [HTTP1Connection] = []
    var open = 0
    var waiting: [HTTP1Exchange] = []
    var waitingHead = 0

    init(address: SocketAddress) { self.address = address }

    /// Nothing open and nothing waiting: the pool may be forgotten.
    var isUnused: Bool { open == 0 && waitingHead == waiting.count }

    /// The next waiting request that has not ended meanwhile.
    func nextWaiting() -> HTTP1Exchange? {
        while waitingHead < waiting.count {
            let x = waiting[waitingHead]
            waitingHead += 1
            if waitingHead == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                waitingHead = 0
            }
            if !x.finished { return x }
        }
        return nil
    }
}

/// A min-heap of exchanges by deadline that knows where each one is, so that one that ends
/// early leaves it in O(log n).
struct DeadlineHeap {
    private(set) var items: [HTTP1Exchange] = []

    var first: HTTP1Exchange? { items.first }

    mutating func insert(_ x: HTTP1Exchange) {
        x.heapIndex = items.count
        items.append(x)
        up(items.count - 1)
    }

    mutating func remove(_ x: HTTP1Exchange) {
        let k = x.heapIndex
        guard k >= 0, k < items.count, items[k] === x else { return }
        x.heapIndex = -1
        let last = items.removeLast()
        guard k < items.count else { return }
        items[k] = last
        last.heapIndex = k
        down(k)
        up(k)
    }

    private mutating func up(_ start: Int) {
        var k = start
        while k > 0 {
            let parent = (k - 1) / 2
            guard items[k].deadline < items[parent].deadline else { return }
            swapAt(k, parent)
            k = parent
        }
    }

    private mutating func down(_ start: Int) {
        var k = start
        while true {
            let l = 2 * k + 1
            let r = l + 1
            var m = k
            if l < items.count && items[l].deadline < items[m].deadline { m = l }
            if r < items.count && items[r].deadline < items[m].deadline { m = r }
            guard m != k else { return }
            swapAt(k, m)
            k = m
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a].heapIndex = a
        items[b].heapIndex = b
    }
}
