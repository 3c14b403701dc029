import CCurl
import SidecarHTTP
import SidecarPosix

/// One transfer's state: owned by the client's thread from hand-over to completion.
final class CurlTransfer {
    let id: UInt64
    let request: ClientRequest
    let completion: (Result<ClientResponse, ClientError>) -> Void
    let started: UInt64
    let maxBody: Int
    var handle: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body: [UInt8] = []
    /// Reads the answer's head as our own client does; holds its fields once whole.
    var head = CurlHeadReader()
    var overLimit = false
    var cancelled = false

    init(
        id: UInt64, request: ClientRequest, maxBody: Int, started: UInt64,
        completion: @escaping (Result<ClientResponse, ClientError>) -> Void
    ) {
        self.id = id
        self.request = request
        self.maxBody = maxBody
        self.started = started
        self.completion = completion
    }

    /// Builds the easy handle: on `reuse` (a handle of an earlier transfer of the same engine,
    /// whose fixed options stay set) or a new one. `headers` is a list already built for this
    /// request's headers (a batch shares one); without it the transfer builds and owns its own.
    /// Nil when curl refuses an option or a header is malformed.
    func makeHandle(
        _ configuration: ClientConfiguration, reuse: UnsafeMutableRawPointer? = nil, headers shared: UnsafeMutablePointer<curl_slist>? = nil
    ) -> UnsafeMutableRawPointer? {
        let h: UnsafeMutableRawPointer
        if let reuse {
            h = reuse
        } else {
            guard let fresh = curl_easy_init() else { return nil }
            h = fresh
        }
        handle = h
        var ok = reuse != nil || Self.setFixedOptions(h, configuration)
        func set(_ option: CURLoption, _ value: Int) { ok = ok && ccurl_setopt_long(h, option, value) == CURLE_OK }

        ok = ok && ccurl_setopt_string(h, CURLOPT_URL, request.url) == CURLE_OK
        set(CURLOPT_TIMEOUT_MS, max(1, Int((request.timeout ?? configuration.requestTimeout).nanoseconds / 1_000_000)))
        // Every method option is set each time: a reused handle keeps what its last request set.
        set(CURLOPT_HTTPGET, 1)
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_CUSTOMREQUEST, nil) == CURLE_OK
        switch request.method {
        case "GET" where request.body.isEmpty:
            break
        case "HEAD":
            set(CURLOPT_NOBODY, 1)
        default:
            ok = ok && ccurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method) == CURLE_OK
            if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method) {
                ok = ok && ccurl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)) == CURLE_OK
                ok =
                    ok
                    && request.body.withUnsafeBytes { raw in
                        // COPYPOSTFIELDS copies: the request's buffer need not outlive this call.
                        ccurl_setopt_pointer(
                            h, CURLOPT_COPYPOSTFIELDS,
                            UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) == CURLE_OK
                    }
            }
        }
        var list = shared
        if list == nil {
            list = Self.headerList(request.headers)
            headerList = list
            ok = ok && list != nil
        }
        ok = ok && ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list) == CURLE_OK
        let me = Unmanaged.passUnretained(self).toOpaque()
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_PRIVATE, me) == CURLE_OK
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_WRITEDATA, me) == CURLE_OK
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_HEADERDATA, me) == CURLE_OK
        return ok ? h : nil
    }

    /// The options every transfer of an engine shares, set once per handle.
    private static func setFixedOptions(_ h: UnsafeMutableRawPointer, _ configuration: ClientConfiguration) -> Bool {
        var ok = true
        func set(_ option: CURLoption, _ value: Int) { ok = ok && ccurl_setopt_long(h, option, value) == CURLE_OK }
        ok = ok && ccurl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_FOLLOWLOCATION, 0)
        // Through a proxy, the CONNECT answer's head would reach the header reader as if it
        // were the answer's own.
        set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = configuration.caBundle { ok = ok && ccurl_setopt_string(h, CURLOPT_CAINFO, ca) == CURLE_OK }
        if let certificate = configuration.clientCertificate, let key = configuration.clientKey {
            ok = ok && ccurl_setopt_string(h, CURLOPT_SSLCERT, certificate) == CURLE_OK
            ok = ok && ccurl_setopt_string(h, CURLOPT_SSLKEY, key) == CURLE_OK
        }
        switch configuration.tlsMinimum {
        case "1.3": set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_3))
        case "1.2": set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
        default: break
        }
        set(CURLOPT_TCP_NODELAY, 1)
        if let idle = configuration.keepAliveProbes {
            let seconds = max(1, Int(idle.seconds))
            set(CURLOPT_TCP_KEEPALIVE, 1)
            set(CURLOPT_TCP_KEEPIDLE, seconds)
            set(CURLOPT_TCP_KEEPINTVL, max(1, seconds / 3))
        }
        set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(configuration.connectTimeout.nanoseconds / 1_000_000)))
        set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        if !configuration.environmentProxies {
            ok = ok && ccurl_setopt_string(h, CURLOPT_PROXY, "") == CURLE_OK
            ok = ok && ccurl_setopt_string(h, CURLOPT_NOPROXY, "*") == CURLE_OK
        }
        ok =
            ok
            && ccurl_setopt_write(
                h, CURLOPT_WRITEFUNCTION,
                { data, size, count, user in
                    let t = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    if t.cancelled { return 0 }
                    if let sink = t.request.bodySink {
                        if sink(UnsafeRawBufferPointer(start: data, count: n)) { return n }
                        t.cancelled = true
                        return 0
                    }
                    if t.body.count + n > t.maxBody {
                        t.overLimit = true
                        return 0  // aborts the transfer: the cap holds, memory stays bounded
                    }
                    t.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
                    return n
                }) == CURLE_OK
        ok =
            ok
            && ccurl_setopt_write(
                h, CURLOPT_HEADERFUNCTION,
                { data, size, count, user in
                    let t = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    // A refused head aborts the transfer at once: no more of it is read or kept.
                    return t.head.line(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
                }) == CURLE_OK
        return ok
    }

    /// curl's list for `headers`; nil when a name or value is malformed. The caller frees it.
    /// Empty `Expect:`, `Accept:` and `Content-Type:` entries remove what libcurl would add on
    /// its own (a 100-continue round trip for bodies over 1 KiB, `Accept: */*`, and a form
    /// content type for any body): a node receives the fields it was given and no others.
    static func headerList(_ headers: [(String, String)]) -> UnsafeMutablePointer<curl_slist>? {
        var list = curl_slist_append(nil, "Expect:")
        if !headers.contains(where: { $0.0.lowercased() == "accept" }) { list = curl_slist_append(list, "Accept:") }
        if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { list = curl_slist_append(list, "Content-Type:") }
        for (name, value) in headers {
            // Bytes, not Characters: "\r\n" is one Character and would slip past a Character test.
            guard !name.isEmpty, name.utf8.allSatisfy({ ByteClass.isToken($0) }), value.utf8.allSatisfy({ ByteClass.isFieldValue($0) })
            else {
                curl_slist_free_all(list)
                return nil
            }
            list = curl_slist_append(list, "\(name): \(value)")
        }
        return list
    }

    /// Frees the header list it owns and hands back the easy handle (for reuse or cleanup).
    func detachHandle() -> UnsafeMutableRawPointer? {
        if let l = headerList { curl_slist_free_all(l) }
        headerList = nil
        defer { handle = nil }
        return handle
    }

    /// Frees the handle and header list.
    func release() {
        if let h = detachHandle() { curl_easy_cleanup(h) }
    }

    /// Maps curl's result to an answer or a typed error.
    func outcome(_ code: CURLcode, now: UInt64) -> Result<ClientResponse, ClientError> {
        if cancelled { return .failure(.cancelled) }
        if overLimit { return .failure(.tooLarge) }
        if let failure = head.failure { return .failure(ClientError(parsing: failure)) }
        guard code == CURLE_OK else { return .failure(Self.error(for: code)) }
        var status = 0
        var connects = 0
        if let h = handle {
            ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
            ccurl_getinfo_long(h, CURLINFO_NUM_CONNECTS, &connects)
        }
        return .success(
            ClientResponse(
                status: status, headers: head.fields, body: body, duration: .nanoseconds(Int64(now &- started)), newConnections: connects))
    }

    static func error(for code: CURLcode) -> ClientError {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .connect
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            return .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT:
            return .badRequest
        default:
            return ClientError(.io, "transfer failed (curl \(code.rawValue))")
        }
    }
}
