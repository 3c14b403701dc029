import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarServer

/// The fuzz targets: each takes one input and must neither crash nor break its invariant
/// (a broken invariant is a `precondition`, which the fuzzer reports as a crash).
enum Targets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "head": head, "chunked": chunked, "fanout": fanout, "server": server, "jwt": jwt, "response": response,
        "curlhead": curlHead, "local": local, "terminal": terminal,
    ]

    /// The connection state machine (request heads, bodies, pipelining) fed the input whole
    /// and split where its first byte says: both must see the same requests and refusals.
    static func head(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let input = Array(data.dropFirst())
        let whole = outcomes(input, splits: [])
        let cut = input.isEmpty ? 0 : Int(first) % (input.count + 1)
        let split = outcomes(input, splits: [cut])
        precondition(whole == split, "split at \(cut) changed the outcome: \(whole) vs \(split)")
    }

    /// What a connection makes of `input` delivered in pieces cut at `splits`.
    static func outcomes(_ input: [UInt8], splits: [Int]) -> [String] {
        var machine = HTTPConnectionStateMachine(
            limits: ParserLimits(maxTargetBytes: 512, maxHeaderBytes: 2048, maxHeaderFields: 32, maxBodyBytes: 4096))
        var seen: [String] = []
        var held: [UInt8] = []
        var start = 0
        for end in splits + [input.count] where end >= start {
            held += input[start..<end]
            start = end
            while true {
                var used = 0
                let step = held.withUnsafeBytes { machine.parse($0, used: &used) }
                held.removeFirst(used)
                switch step {
                case .needMore: break
                case .arm, .sendContinue: continue
                case .discard:
                    held.removeAll()
                    break
                case .request(let head, let body):
                    seen.append("\(head.method) \(head.path) \(head.query ?? "-") \(body.count)")
                    _ = machine.answer(closeRequested: false, draining: false)
                    continue
                case .refuse(let error):
                    seen.append("refused \(error.status)")
                    return seen
                }
                break
            }
        }
        return seen
    }

    /// The chunked decoder, trailers included, whole and split: same body, same verdict.
    static func chunked(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let input = Array(data.dropFirst())
        func decode(_ parts: [[UInt8]]) -> String {
            var decoder = BodyDecoder(framing: .chunked, maxBodyBytes: 4096, maxTrailerBytes: 1024, maxTrailerFields: 8)
            var body: [UInt8] = []
            var used = 0
            for part in parts where !decoder.isComplete {
                let step: Result<Int, HTTPParseError> = part.withUnsafeBytes { buf in
                    do throws(HTTPParseError) { return .success(try decoder.decode(buf, into: &body)) } catch { return .failure(error) }
                }
                switch step {
                case .success(let n): used += n
                case .failure(let error): return "refused \(error.status) \(error.label)"
                }
            }
            precondition(body.count <= 4096, "body over its limit")
            return decoder.isComplete ? "body \(body.count) used \(used)" : "incomplete"
        }
        let cut = input.isEmpty ? 0 : Int(first) % (input.count + 1)
        let whole = decode([input])
        let split = decode([Array(input[..<cut]), Array(input[cut...])])
        precondition(whole == split, "split at \(cut): \(whole) vs \(split)")
    }

    /// `POST /cluster/fanout` options: refused or a request that only ever names a path.
    static func fanout(_ data: [UInt8]) {
        guard let request = try? FanOutRequest.parse(body: data, defaultTimeout: .seconds(10)) else { return }
        precondition(request.path.hasPrefix("/") && !request.path.hasPrefix("//"), "a fan-out left the cluster: \(request.path)")
        precondition(!request.path.contains("\r") && !request.path.contains("\n") && !request.path.contains(" "))
    }

    /// createItResource bodies: refused, or a server that keeps the `Server` schema; one the
    /// view takes (small limits here) never holds more metadata than its cap.
    static func server(_ data: [UInt8]) {
        guard case .success(let s) = ServerInfo.checked(data) else { return }
        precondition(s.problem == nil && !s.id.isEmpty && !s.type.isEmpty)
        if let m = s.metadata, case .object = m {} else { precondition(s.metadata == nil, "metadata not an object") }
        let view = ClusterView(limits: .init(maxServers: 1, maxMetadataBytes: 64), now: { 0 })
        switch view.upsert(s) {
        case .added: precondition(s.metadata.map { JSONCoding.encode($0).count <= 64 } ?? true, "metadata over the cap taken")
        case .updated: preconditionFailure("an empty view updated")
        case .refused(let full, _): precondition(!full, "an empty view full")
        }
        precondition(view.count <= 1)
    }

    /// An answer's head read by the libcurl path (`CurlHeadReader`, fed lines cut at each LF as
    /// libcurl cuts them) against our own client's parser fed the same bytes whole: one takes
    /// the head exactly when the other does, with the same status and fields.
    static func curlHead(_ data: [UInt8]) {
        var reader = CurlHeadReader()
        var start = 0
        var accepted = true
        for (k, b) in data.enumerated() where b == 0x0A || k == data.count - 1 {
            let line = Array(data[start...k])
            start = k + 1
            accepted = line.withUnsafeBytes { reader.line($0) }
            if !accepted || reader.isComplete { break }
        }
        var parser = HTTPResponseParser(
            isHead: true, maxBodyBytes: 0, maxHeadBytes: CurlHeadReader.maxHeadBytes, maxFields: CurlHeadReader.maxFields)
        let whole: Bool = data.withUnsafeBytes { buf in
            do throws(ResponseParseError) {
                _ = try parser.feed(buf)
                return parser.isComplete
            } catch { return false }
        }
        if reader.isComplete {
            precondition(whole, "the libcurl path took a head our parser refuses")
            precondition(reader.status == parser.status && reader.fields.count == parser.fields.count)
            precondition((200...599).contains(reader.status) && reader.fields.count <= CurlHeadReader.maxFields)
        }
        if whole && accepted && start >= data.count { precondition(reader.isComplete, "a head our parser takes left incomplete") }
    }

    /// The local API's Host and Origin guard on any pair of values: a request it lets through
    /// names localhost or an address literal, and comes from no other origin.
    static func local(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        var fields: [(String, String)] = [("Host", parts[0])]
        if parts.count > 1 { fields.append(("Origin", parts[1])) }
        if parts.count > 2 { fields.append(("Sec-Fetch-Site", parts[2])) }
        let listener = SocketAddress(host: "127.0.0.1", port: 8461)!
        guard LocalOriginMiddleware(listener: listener).refusal(HTTPFields(fields)) == nil else { return }
        let name = LocalOriginMiddleware.hostName(parts[0])
        precondition(name != nil, "a malformed Host passed")
        precondition(
            name!.lowercased() == "localhost" || name!.hasPrefix("127.") || name!.contains(":"), "a non-local Host passed: \(parts[0])")
        if parts.count > 1 { precondition(parts[1].lowercased() == "http://" + parts[0].lowercased(), "another origin passed") }
    }

    /// Text for a terminal: nothing escaped survives, and plain text is left as it is.
    static func terminal(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let shown = TerminalText.escaped(text)
        precondition(!shown.unicodeScalars.contains(where: TerminalText.needsEscape), "a control character reached the terminal")
        if !text.unicodeScalars.contains(where: TerminalText.needsEscape) { precondition(shown == text) }
    }

    /// The JWT front end (before any signature check): refuses or returns an algorithm.
    static func jwt(_ data: [UInt8]) {
        if let header = try? JWTFrontEnd.check(String(decoding: data, as: UTF8.self)) {
            precondition(!header.alg.isEmpty || header.alg.isEmpty)
        }
    }

    /// A node's answer as the fan-out reads it (`HTTPResponseParser`), whole and split where the
    /// first byte says, the connection closing after it when the second byte is odd: the same
    /// answer or the same refusal, never a body over its cap.
    static func response(_ data: [UInt8]) {
        guard data.count >= 2 else { return }
        let input = Array(data.dropFirst(2))
        let isHead = data[1] & 2 != 0
        let closes = data[1] & 1 != 0
        func read(_ parts: [[UInt8]]) -> String {
            var parser = HTTPResponseParser(isHead: isHead, maxBodyBytes: 1024, maxHeadBytes: 1024, maxFields: 16)
            var used = 0
            for part in parts where !parser.isComplete {
                let step: Result<Int, ResponseParseError> = part.withUnsafeBytes { buf in
                    do throws(ResponseParseError) { return .success(try parser.feed(buf)) } catch { return .failure(error) }
                }
                switch step {
                case .success(let n): used += n
                case .failure(let error): return "refused \(error.kind) \(error.message)"
                }
            }
            if closes {
                do throws(ResponseParseError) { try parser.end() } catch { return "refused \(error.kind) \(error.message)" }
            }
            precondition(parser.body.count <= 1024, "body over its cap")
            guard parser.isComplete else { return "incomplete" }
            precondition((100...599).contains(parser.status) && parser.status >= 200 && parser.status != 101)
            return "answer \(parser.status) \(parser.fields.count) \(parser.body.count) \(parser.keepAlive) used \(used)"
        }
        let cut = input.isEmpty ? 0 : Int(data[0]) % (input.count + 1)
        let whole = read([input])
        let split = read([Array(input[..<cut]), Array(input[cut...])])
        precondition(whole == split, "split at \(cut): \(whole) vs \(split)")
    }
}
