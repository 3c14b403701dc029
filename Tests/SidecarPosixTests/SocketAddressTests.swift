import Glibc
import Testing

@testable import SidecarPosix

/// Socket addresses compare and hash by what they address, not by how it was written.
@Suite struct SocketAddressTests {
    @Test func spellingsOfOneAddress_areEqual_andHashAlike() throws {
        let pairs = [("::1", "0::1"), ("localhost", "127.0.0.1"), ("[::1]", "::1"), ("2001:db8::1", "2001:DB8:0::1")]
        for (a, b) in pairs {
            let x = try #require(SocketAddress(host: a, port: 80))
            let y = try #require(SocketAddress(host: b, port: 80))
            #expect(x == y, "\(a) and \(b)")
            #expect(Set([x, y]).count == 1)
        }
    }

    @Test func anotherPortOrFamily_isAnotherAddress() throws {
        let a = try #require(SocketAddress(host: "127.0.0.1", port: 80))
        #expect(a != SocketAddress(host: "127.0.0.1", port: 81))
        #expect(a != SocketAddress(host: "127.0.0.2", port: 80))
        #expect(a != SocketAddress(host: "::ffff:127.0.0.1", port: 80))
        #expect(SocketAddress(host: "::1", port: 80) != SocketAddress(host: "::2", port: 80))
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func theSockaddr_carriesTheAddressAndPort() throws {
        let v4 = try #require(SocketAddress(host: "10.1.2.3", port: 8080))
        let text4 = v4.withSockAddr { sa, len -> String in
            #expect(len == socklen_t(MemoryLayout<sockaddr_in>.size))
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                var a = $0.pointee.sin_addr
                var buffer = [CChar](repeating: 0, count: 64)
                _ = inet_ntop(AF_INET, &a, &buffer, 64)
                return Self.text(buffer) + ":\(UInt16(bigEndian: $0.pointee.sin_port))"
            }
        }
        #expect(text4 == "10.1.2.3:8080")
        let v6 = try #require(SocketAddress(host: "2001:db8::7", port: 443))
        let text6 = v6.withSockAddr { sa, _ -> String in
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                var a = $0.pointee.sin6_addr
                var buffer = [CChar](repeating: 0, count: 64)
                _ = inet_ntop(AF_INET6, &a, &buffer, 64)
                return Self.text(buffer) + ":\(UInt16(bigEndian: $0.pointee.sin6_port))"
            }
        }
        #expect(text6 == "2001:db8::7:443")
    }
}
