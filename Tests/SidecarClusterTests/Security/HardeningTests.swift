import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarSettings

/// The limits and refusals of the second security pass, part by part.
@Suite struct HardeningTests {
    // MARK: secrets compared whole

    @Test func aPrefixOfALongToken_neverAuthenticates() {
        // The old check folded the length difference into one byte: a 257-byte token opened
        // with one byte, a 300-byte one with its 44-byte prefix.
        for length in [257, 300, 513, 40] {
            let token = String((0..<length).map { Character(UnicodeScalar(UInt8(0x61 + $0 % 26))) })
            let secret = Secret(token)
            for cut in Set([1, length - 256, length - 1, length % 256]) where cut > 0 && cut < length {
                let prefix = String(token.prefix(cut))
                #expect(!LocalAuthMiddleware.isBearer("Bearer " + prefix, secret), "prefix of \(cut) of \(length) bytes")
            }
            #expect(LocalAuthMiddleware.isBearer("Bearer " + token, secret))
            #expect(!LocalAuthMiddleware.isBearer("Bearer " + token + "x", secret))
        }
        // A JWT as the token: every HS256 JWT starts alike.
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + String(repeating: "eyJzdWIiOiIxMjM0NTY3ODkwIn0", count: 8) + ".sig"
        #expect(!LocalAuthMiddleware.isBearer("Bearer eyJhbGciO", Secret(jwt)))
    }

    @Test func secretComparison_equalOnlyForEqualBytesAndLengths() {
        #expect(SecretComparison.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!SecretComparison.equals(Array("ab".utf8), Array("abc".utf8)))
        #expect(!SecretComparison.equals(Array("abcd".utf8), Array("abc".utf8)))
        #expect(!SecretComparison.equals(Array("abd".utf8), Array("abc".utf8)))
        #expect(!SecretComparison.equals([UInt8](), Array("a".utf8)))
        #expect(SecretComparison.equals([UInt8](), [UInt8]()))
        // A length 256 apart, with equal bytes where both have one: the old fold said equal.
        let long = [UInt8](repeating: 0x61, count: 257)
        #expect(!SecretComparison.equals([0x61], long))
    }

    // MARK: tokens a bearer credential can carry

    @Test func tokens_holdOnlyBearerCharacters() {
        for good in ["abc", "a-b.c_d~e+f/g", "YWJj==", "0"] { #expect(SettingsReader.isBearerToken(good), "\(good)") }
        for bad in ["a b", "tok\u{1}en", "a=b", "=", "", "é", "a\tb", "a,b", "\"a\""] {
            #expect(!SettingsReader.isBearerToken(bad), "\(bad)")
        }
    }

    @Test func unusableTokens_stopStartUp_namingTheVariable() {
        func problem(_ env: [String: String]) -> String? {
            do {
                _ = try ConfigResolver(environment: env, readFile: { _ throws(FileReadError) in throw FileReadError("x") }).resolve()
                return nil
            } catch {
                return error.variable
            }
        }
        #expect(problem(["LOCAL_API_TOKEN": "two words"]) == "LOCAL_API_TOKEN")
        #expect(problem(["LOCAL_API_TOKEN": "ctl\u{7F}"]) == "LOCAL_API_TOKEN")
        #expect(problem(["MIT_TOKEN": "a;b"]) == "MIT_TOKEN")
        #expect(problem(["LOCAL_API_TOKEN": "fine-token_1.2~3+/=="]) == nil)
    }

    // MARK: setting files

    @Test func settingFiles_regularOnly_sizeCapped_neverBlocking() throws {
        let dir = NSTemporaryDirectory() + "cs-files-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = ContinuousClock.now
        #expect(throws: FileReadError("is not a regular file")) { try SettingFile.read(fifo) }
        #expect(ContinuousClock.now - started < .seconds(1), "a FIFO with no writer must not block the read")
        #expect(throws: FileReadError("is not a regular file")) { try SettingFile.read(dir) }
        let big = dir + "/big"
        _ = FileManager.default.createFile(atPath: big, contents: Data(count: 2048))
        #expect(throws: FileReadError("is over 1024 bytes")) { try SettingFile.read(big, maxBytes: 1024) }
        #expect(try SettingFile.read(big, maxBytes: 4096).utf8.count == 2048)
        #expect((try? SettingFile.read(dir + "/none")) == nil)
    }

    // MARK: the local API's Host and Origin

    static let loopback = SocketAddress(host: "127.0.0.1", port: 8461)!
    static let wildcard = SocketAddress(host: "0.0.0.0", port: 8461)!

    func refused(_ fields: [(String, String)], listener: SocketAddress = loopback, checkOrigin: Bool = true) -> String? {
        guard let r = LocalOriginMiddleware(listener: listener, checkOrigin: checkOrigin).refusal(HTTPFields(fields)) else { return nil }
        #expect(r.status == 403)
        return String(decoding: r.body, as: UTF8.self).contains("host_not_allowed") ? "host" : "origin"
    }

    @Test func localHosts_pass_othersAreRefused() {
        for host in ["localhost", "LOCALHOST:8461", "127.0.0.1:8461", "127.9.9.9", "[::1]:8461", "[::1]", "localhost."] {
            #expect(refused([("Host", host)]) == nil, "\(host)")
        }
        for host in [
            "evil.example", "evil.example:8461", "10.0.0.5:8461", "[::2]:8461", "localhost.evil.example", "127.0.0.1:x", "[::1", "",
        ] {
            #expect(refused([("Host", host)]) == "host", "\(host)")
        }
        // A listener on a wildcard answers for any address literal, still not for a name.
        #expect(refused([("Host", "10.0.0.5:8461")], listener: Self.wildcard) == nil)
        #expect(refused([("Host", "rebound.example:8461")], listener: Self.wildcard) == "host")
        // The listener's own address.
        #expect(refused([("Host", "10.1.2.3:8461")], listener: SocketAddress(host: "10.1.2.3", port: 8461)!) == nil)
        // No Host at all (HTTP/1.0 tools): no browser sends that.
        #expect(refused([]) == nil)
    }

    @Test func otherSites_areRefused_sameOriginPasses() {
        let host = ("Host", "127.0.0.1:8461")
        #expect(refused([host, ("Origin", "http://127.0.0.1:8461")]) == nil)
        #expect(refused([host, ("Origin", "http://evil.example")]) == "origin")
        #expect(refused([host, ("Origin", "null")]) == "origin")
        #expect(refused([host, ("Origin", "http://127.0.0.1:3000")]) == "origin", "another port is another origin")
        #expect(refused([host, ("Sec-Fetch-Site", "cross-site")]) == "origin")
        #expect(refused([host, ("Sec-Fetch-Site", "same-site")]) == "origin")
        #expect(refused([host, ("Sec-Fetch-Site", "same-origin")]) == nil)
        #expect(refused([host, ("Sec-Fetch-Site", "none")]) == nil)
        // The documents check the Host only: a link from another page may open them.
        #expect(refused([host, ("Sec-Fetch-Site", "cross-site")], checkOrigin: false) == nil)
        #expect(refused([("Host", "evil.example")], checkOrigin: false) == "host")
    }

    // MARK: text shown on a terminal

    @Test func controlCharacters_areEscapedForTerminals() {
        #expect(TerminalText.escaped("plain id-1") == "plain id-1")
        #expect(TerminalText.escaped("\u{1B}]0;owned\u{07}x") == "\\x1B]0;owned\\x07x")
        #expect(TerminalText.escaped("a\nb\rc\td") == "a\\x0Ab\\x0Dc\\x09d")
        #expect(TerminalText.escaped("\u{9B}2J\u{7F}") == "\\x9B2J\\x7F")
        #expect(TerminalText.escaped("abc\u{202E}fed") == "abc\\u{202E}fed")
        #expect(TerminalText.escaped("zoné ✓") == "zoné ✓")
    }

    // MARK: the cluster view's limits

    func server(_ id: String, metadataBytes: Int = 0) -> ServerInfo {
        ServerInfo(
            id: id, type: "t", url: "http://a", clusterUrl: "http://a:1",
            metadata: metadataBytes > 0 ? .object(["k": .string(String(repeating: "x", count: metadataBytes))]) : nil)
    }

    @Test func theView_holdsAtMostItsLimits() {
        let view = ClusterView(limits: .init(maxServers: 3, maxMetadataBytes: 100))
        #expect(view.upsert(server("a")) == .added)
        #expect(view.upsert(server("b", metadataBytes: 50)) == .added)
        #expect(view.upsert(server("a")) == .updated)
        if case .refused(let full, _) = view.upsert(server("c", metadataBytes: 200)) {
            #expect(!full)
        } else {
            Issue.record("metadata over the cap taken")
        }
        #expect(view.upsert(server("c")) == .added)
        if case .refused(let full, _) = view.upsert(server("d")) { #expect(full) } else { Issue.record("a fourth server taken") }
        #expect(view.upsert(server("c", metadataBytes: 10)) == .updated, "a known server is still updated when the view is full")
        #expect(view.count == 3)
        let left = view.replace(with: (0..<5).map { server("r\($0)") } + [server("fat", metadataBytes: 500)])
        #expect(view.snapshot().servers.map(\.id) == ["r0", "r1", "r2"])
        #expect(left == 3)
    }

    // MARK: what a fan-out answer may take in the aggregate

    @Test func anAnswerEscapedPastTwiceTheCap_isTooLarge_JSONSplicedAsItIs() {
        func answer(_ body: [UInt8], type: String = "text/plain") -> Result<ClientResponse, ClientError> {
            .success(ClientResponse(status: 200, headers: HTTPFields([("Content-Type", type)]), body: body, duration: .zero))
        }
        func code(_ r: Result<ClientResponse, ClientError>) -> String {
            switch FanOut.counted(r, maxResponseBytes: 1000, in: nil) {
            case .success: "kept"
            case .failure(let e): e.code.rawValue
            }
        }
        // 1000 control bytes take 6000 as a JSON string: over twice the cap of 1000.
        #expect(code(answer([UInt8](repeating: 1, count: 1000))) == "too_large")
        #expect(code(answer([UInt8](repeating: 1, count: 333))) == "kept")
        #expect(code(answer([UInt8](repeating: 0x61, count: 1000))) == "kept")
        // Valid JSON is spliced in, never escaped: even a string of escapes is kept.
        let json = Array(("[\"" + String(repeating: "\\u0001", count: 150) + "\"]").utf8)
        #expect(code(answer(json, type: "application/json")) == "kept")
        #expect(
            code(answer(Array(String(repeating: "\"", count: 1001).utf8), type: "application/json")) == "too_large", "not JSON: escaped")
        #expect(code(.failure(.timeout)) == "timeout")
    }

    // MARK: what a fan-out answer weighs

    @Test func anAnswersWeight_coversItsEscapedCopies() {
        let control = ClientResponse(status: 200, headers: HTTPFields(), body: [UInt8](repeating: 1, count: 1000), duration: .zero)
        // 1000 bytes held; 6002 as a JSON string, written twice in the aggregate, copied once.
        #expect(AnswerBudget.weight(control) == 1000 + 5 * 6002)
        let json = ClientResponse(status: 200, headers: HTTPFields([("a", "b")]), body: Array("{}".utf8), duration: .zero)
        #expect(AnswerBudget.weight(json) == 3 * (1 + 1 + 8) + 2 + 5 * 4)
        let budget = AnswerBudget()
        budget.hold(100)
        #expect(!budget.admits(limit: 100) && budget.admits(limit: 101))
        budget.release(100)
        #expect(budget.current == 0)
    }
}
