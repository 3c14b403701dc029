import CCurl

/// One transfer's state: owned by the client's thread from hand-over to completion.
final class CurlTransfer {
    let id: UInt64
    let request: ClientRequest
    let completion: @Sendable (Result<ClientResponse, ClientError>) -> Void
    let started: UInt64
    let maxBody: Int
    var handle: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body: [UInt8] = []
    var headers = HTTPFields()
    var overLimit = false
    var cancelled = false

    init(id: UInt64, request: ClientRequest, maxBody: Int, started: UInt64, completion: @escaping @Sendable (Result<ClientResponse, ClientError>) -> Void) {
        self.id = id
        self.request = request
        self.maxBody = maxBody
        self.started = started
        self.completion = completion
    }

    /// Builds the easy handle; nil when curl refuses an option.
    func makeHandle(_ configuration: ClientConfiguration) -> UnsafeMutableRawPointer? {
        guard let h = curl_easy_init() else { return nil }
        handle = h
        var ok = true
        func set(_ option: CURLoption, _ value: Int) { ok = ok && ccurl_setopt_long(h, option, value) == CURLE_OK }
        func set(_ option: CURLoption, _ value: String) { ok = ok && ccurl_setopt_string(h, option, value) == CURLE_OK }

        set(CURLOPT_URL, request.url)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = configuration.caBundle { set(CURLOPT_CAINFO, ca) }
        set(CURLOPT_TCP_NODELAY, 1)
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000))
        set(CURLOPT_TIMEOUT_MS, max(1, Int((request.timeout ?? configuration.requestTimeout) * 1000)))
        switch request.method {
        case "GET" where request.body.isEmpty:
            set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            set(CURLOPT_NOBODY, 1)
        default:
            set(CURLOPT_CUSTOMREQUEST, request.method)
            if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method) {
                ok = ok && ccurl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)) == CURLE_OK
                ok = ok && request.body.withUnsafeBytes { raw in
                    // COPYPOSTFIELDS copies: the request's buffer need not outlive this call.
                    ccurl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) == CURLE_OK
                }
            }
        }
        // No "Expect: 100-continue" round trip for bodies over 1 KiB.
        var list = curl_slist_append(nil, "Expect:")
        for (name, value) in request.headers {
            // Bytes, not Characters: "\r\n" is one Character and would slip past a Character test.
            guard !name.isEmpty, name.utf8.allSatisfy({ ByteClass.isToken($0) }),
                value.utf8.allSatisfy({ ByteClass.isFieldValue($0) })
            else {
                ok = false
                continue
            }
            list = curl_slist_append(list, "\(name): \(value)")
        }
        headerList = list
        ok = ok && ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list) == CURLE_OK
        let me = Unmanaged.passUnretained(self).toOpaque()
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_PRIVATE, me) == CURLE_OK
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_WRITEDATA, me) == CURLE_OK
        ok = ok && ccurl_setopt_pointer(h, CURLOPT_HEADERDATA, me) == CURLE_OK
        ok = ok && ccurl_setopt_write(h, CURLOPT_WRITEFUNCTION, { data, size, count, user in
            let t = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            if t.cancelled { return 0 }
            if t.body.count + n > t.maxBody {
                t.overLimit = true
                return 0  // aborts the transfer: the cap holds, memory stays bounded
            }
            t.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
            return n
        }) == CURLE_OK
        ok = ok && ccurl_setopt_write(h, CURLOPT_HEADERFUNCTION, { data, size, count, user in
            let t = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            t.headerLine(UnsafeRawBufferPointer(start: data, count: n))
            return n
        }) == CURLE_OK
        return ok ? h : nil
    }

    /// One header line from curl: a status line starts a new set (after 100 Continue, say).
    private func headerLine(_ raw: UnsafeRawBufferPointer) {
        var line = String(decoding: raw, as: UTF8.self)
        while let last = line.last, last.isNewline { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            headers = HTTPFields()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
        headers.append(name, String(value))
    }

    /// Frees the handle and header list.
    func release() {
        if let h = handle { curl_easy_cleanup(h) }
        if let l = headerList { curl_slist_free_all(l) }
        handle = nil
        headerList = nil
    }

    /// Maps curl's result to an answer or a typed error.
    func outcome(_ code: CURLcode, now: UInt64) -> Result<ClientResponse, ClientError> {
        if cancelled { return .failure(.cancelled) }
        if overLimit { return .failure(.tooLarge) }
        guard code == CURLE_OK else { return .failure(Self.error(for: code)) }
        var status = 0
        var connects = 0
        if let h = handle {
            ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
            ccurl_getinfo_long(h, CURLINFO_NUM_CONNECTS, &connects)
        }
        return .success(ClientResponse(status: status, headers: headers, body: body, duration: Double(now &- started) / 1e9, newConnections: connects))
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
