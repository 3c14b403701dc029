import Glibc
import Synchronization

/// A raw TCP server on 127.0.0.1 port 0 whose every connection runs `serve` on a thread
/// of its own: for peers that misbehave on purpose (stall mid-body, reset, never answer).
package final class StubServer: @unchecked Sendable {  // fd is immutable; the accept thread only reads it
    package let fd: Int32
    package let port: UInt16
    package let accepted = Atomic<Int>(0)

    package init(_ serve: @escaping @Sendable (Int32) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard rc else { throw TestFailure("stub bind failed") }
        self.fd = fd
        port = UInt16(bigEndian: sa.sin_port)
        let listener = fd
        let counter = self
        Thread.detach {
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                counter.accepted.add(1, ordering: .relaxed)
                Thread.detach {
                    serve(c)
                    close(c)
                }
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Reads until the end of a request head (good enough for bodiless test requests).
    package static func readHead(_ fd: Int32) {
        var seen: [UInt8] = []
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) == 1 {
            seen.append(byte)
            if seen.suffix(4) == [13, 10, 13, 10] { return }
        }
    }

    /// Reads one request head and returns its bytes; nil when the connection ends first.
    package static func nextHead(_ fd: Int32) -> [UInt8]? {
        var seen: [UInt8] = []
        var byte: UInt8 = 0
        while !(seen.count >= 4 && Array(seen.suffix(4)) == [13, 10, 13, 10]) {
            guard recv(fd, &byte, 1, 0) == 1 else { return nil }
            seen.append(byte)
        }
        return seen
    }

    package static func send(_ fd: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }
}

/// Detached POSIX threads for test helpers.
package enum Thread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    package static func detach(_ body: @escaping @Sendable () -> Void) {
        var t = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(
            &t, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box)
        pthread_detach(t)
    }
}
