import Glibc
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarServer

/// Answers whose body follows the head piece by piece (`HTTPResponse.streamed`): chunked on
/// HTTP/1.1, up to the close on HTTP/1.0; paced by the reader; cancelled when it goes.
@Suite struct StreamedBodyTests {
    /// A server whose `GET /stream` answers with `stream`'s body (one stream per test).
    func server(_ stream: BodyStream, fields: HTTPFields = HTTPFields([("Content-Type", "text/plain")])) throws -> TestServer {
        try TestServer { router in
            router.on("GET", "/stream") { _ in
                var r = HTTPResponse(status: 200, fields: fields)
                r.streamed = stream
                return r
            }
        }
    }

    @Test func piecesLeaveAsTheyAreWritten_thenTheConnectionServesTheNextRequest() throws {
        let stream = BodyStream()
        let server = try server(stream)
        let client = try server.client()
        try client.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readHead()
        #expect(head.status == 200)
        #expect(head.field("Transfer-Encoding") == "chunked")
        #expect(head.field("Content-Length") == nil)
        stream.write(Array("one\n".utf8))
        #expect(try client.readChunk() == Array("one\n".utf8), "the first piece comes before the body ends")
        stream.write(Array("two\n".utf8))
        stream.finish()
        #expect(try client.readChunk() == Array("two\n".utf8))
        #expect(try client.readChunk() == nil)
        // The request behind it was held while the body streamed, and is answered now.
        #expect(try client.readResponse().bodyText == #"{"status":"ok"}"#)
    }

    @Test func whatWasWrittenBeforeTheHeadLeft_comesWithIt() throws {
        let stream = BodyStream()
        stream.write(Array("early\n".utf8))
        stream.finish()
        let server = try server(stream)
        let client = try server.client()
        try client.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try client.readResponse().bodyText == "early\n")
    }

    @Test func onHTTP10_theBodyEndsWithTheConnection() throws {
        let stream = BodyStream()
        let server = try server(stream)
        let client = try server.client()
        try client.send("GET /stream HTTP/1.0\r\n\r\n")
        let head = try client.readHead()
        #expect(head.field("Transfer-Encoding") == nil)
        #expect(head.field("Connection") == "close")
        stream.write(Array("a".utf8))
        stream.write(Array("b".utf8))
        stream.finish()
        #expect(client.readToEnd() == Array("ab".utf8))
    }

    @Test func aHEADRequest_getsTheHeadAlone_andTheProducerIsToldToStop() throws {
        let stream = BodyStream()
        let stopped = Counter()
        stream.onCancel { stopped.add() }
        let server = try TestServer { router in
            router.on("HEAD", "/stream") { _ in
                var r = HTTPResponse(status: 200)
                r.streamed = stream
                return r
            }
        }
        let client = try server.client()
        try client.send("HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readResponse(head: true)
        #expect(head.field("Transfer-Encoding") == "chunked")
        #expect(stopped.value == 1)
        #expect(!stream.write([1]), "a cancelled stream takes nothing")
        #expect(try client.readResponse().status == 200)
    }

    @Test func theReaderGoing_cancelsTheStream() throws {
        let stream = BodyStream()
        let gone = Counter()
        stream.onCancel { gone.add() }
        let server = try server(stream)
        do {
            let client = try server.client()
            try client.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
            _ = try client.readHead()
            stream.write(Array("x".utf8))
            #expect(try client.readChunk() == Array("x".utf8))
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }  // closed with a reset: the next write fails
        #expect(eventually(3) { stream.write(Array("y".utf8)) == false && gone.value == 1 })
        #expect(stream.isCancelled)
    }

    @Test func aSlowReader_keepsTheUnsentBytesBounded() throws {
        let stream = BodyStream(highWater: 64 * 1024, lowWater: 16 * 1024)
        let server = try server(stream)
        let client = try server.client(timeout: 10)
        try client.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try client.readHead()
        // The producer: 8 MiB in 8 KiB pieces, waiting whenever the reader is behind.
        let piece = [UInt8](repeating: 0x61, count: 8 * 1024)
        let pieces = 1024
        let pauses = Counter()
        let producer = Thread {
            for _ in 0..<pieces {
                if stream.isBehind {
                    pauses.add()
                    let resumed = Mutex(false)
                    stream.whenWritable { resumed.withLock { $0 = true } }
                    while !resumed.withLock({ $0 }) { usleep(200) }
                }
                stream.write(piece)
            }
            stream.finish()
        }
        producer.start()
        var total = 0
        var reads = 0
        while let chunk = try client.readChunk() {
            total += chunk.count
            reads += 1
            if reads % 64 == 0 { usleep(2000) }  // a reader slower than the producer
        }
        #expect(total == pieces * piece.count)
        #expect(pauses.value > 0, "the producer had to wait")
        #expect(stream.peakBacklog <= stream.highWater + piece.count, "\(stream.peakBacklog)")
    }
}

/// A thread for a test's producer.
private final class Thread: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    func start() { PosixThread.spawn(body) }
}
