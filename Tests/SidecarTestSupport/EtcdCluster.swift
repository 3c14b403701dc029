import Foundation
import Glibc

/// Real etcd members (Debian's `etcd-server`) on loopback ports of their own, for the registry
/// on etcd: started together, killed and restarted one by one, removed with their data.
package final class EtcdCluster {
    package struct Member {
        package let name: String
        package let clientPort: UInt16
        package let peerPort: UInt16
        package var process: Process?
        package var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    package private(set) var members: [Member]
    private let directory: URL

    /// Starts `size` members and waits until the cluster has a leader.
    package init(size: Int = 1) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ports = try Self.freePorts(2 * size)
        members = (0..<size).map { Member(name: "m\($0)", clientPort: ports[2 * $0], peerPort: ports[2 * $0 + 1], process: nil) }
        for i in members.indices { try start(i) }
        guard waitForLeader(timeout: 20) != nil else { throw TestFailure("etcd had no leader in 20 s: \(log(0))") }
    }

    deinit {
        for m in members where m.process?.isRunning == true { Glibc.kill(m.process!.processIdentifier, SIGKILL) }
        for m in members { m.process?.waitUntilExit() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every member's client URL, comma-separated (`ETCD_ENDPOINTS`).
    package var endpoints: String { members.map(\.clientURL).joined(separator: ",") }

    /// Starts member `i` (again, on its data, after a kill).
    package func start(_ i: Int) throws {
        let m = members[i]
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        p.arguments = [
            "--name", m.name, "--data-dir", directory.appendingPathComponent(m.name).path,
            "--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
            "--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", directory.lastPathComponent,
            "--logger", "zap", "--log-outputs", directory.appendingPathComponent("\(m.name).log").path,
        ]
        p.environment = [
            "PATH": "/usr/bin:/bin", "ETCD_UNSUPPORTED_ARCH": ProcessInfo.processInfo.environment["ETCD_UNSUPPORTED_ARCH"] ?? "",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        members[i].process = p
    }

    /// Kills member `i` at once (SIGKILL).
    package func kill(_ i: Int) {
        guard let p = members[i].process, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// The index of the member that leads now, once one does (nil after `timeout`).
    package func waitForLeader(timeout: Double) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let i = leader() { return i }
            usleep(100_000)
        }
        return nil
    }

    /// The index of the leading member, as the running members say.
    package func leader() -> Int? {
        for (i, m) in members.enumerated() where m.process?.isRunning == true {
            guard let status = Self.post(m.clientURL + "/v3/maintenance/status", "{}"),
                let header = status["header"] as? [String: Any], let me = header["member_id"] as? String,
                let leader = status["leader"] as? String
            else { continue }
            if me == leader { return i }
        }
        return nil
    }

    /// Member `i`'s log (for failure messages).
    package func log(_ i: Int) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(members[i].name).log"), encoding: .utf8)).map {
            String($0.suffix(2000))
        }
            ?? ""
    }

    /// Keys under `prefix` as etcd holds them now (decoded), through member `i`.
    package func keys(prefix: String, member i: Int = 0) -> [String: String] {
        let key = Data(prefix.utf8)
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        let body = #"{"key":"\#(key.base64EncodedString())","range_end":"\#(Data(end).base64EncodedString())"}"#
        guard let answer = Self.post(members[i].clientURL + "/v3/kv/range", body) else { return [:] }
        var out: [String: String] = [:]
        for kv in answer["kvs"] as? [[String: Any]] ?? [] {
            guard let k = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else { continue }
            let v = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
            out[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
        }
        return out
    }

    /// A POST of `body` (JSON) with curl; the answer's JSON object, or nil.
    static func post(_ url: String, _ body: String) -> [String: Any]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-m", "2", "-X", "POST", url, "-d", body]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// `count` loopback ports free now (bound to port 0, read, closed).
    static func freePorts(_ count: Int) throws -> [UInt16] {
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        var ports: [UInt16] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            fds.append(fd)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard bound else { throw TestFailure("no free port") }
            ports.append(UInt16(bigEndian: a.sin_port))
        }
        return ports
    }
}
