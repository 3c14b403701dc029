import FoundationEssentials

// etcd's v3 JSON gateway (grpc-gateway over etcdserverpb): keys and values are base64,
// 64-bit numbers are strings, and fields at their zero value are left out (a `succeeded`
// that is false, a `TTL` of 0, an empty `kvs`).

/// Bytes as the gateway carries them: base64 in a JSON string.
struct EtcdBytes: Codable, Sendable, Hashable {
    var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not base64"))
        }
        bytes = Array(data)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Data(bytes).base64EncodedString())
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The end of the range of every key that starts with these bytes (etcd's prefix rule:
    /// the last byte below 0xff plus one, what follows it dropped).
    var prefixEnd: EtcdBytes {
        var end = bytes
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return EtcdBytes(bytes: end)
            }
            end.removeLast()
        }
        return EtcdBytes(bytes: [0])  // every key
    }
}

/// An int64 as the gateway writes it (a string), read from a number too.
struct EtcdInt: Codable, Sendable, Hashable, ExpressibleByIntegerLiteral {
    var value: Int64

    init(_ value: Int64) { self.value = value }
    init(integerLiteral value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) {
            value = n
        } else if let n = Int64(try c.decode(String.self)) {
            value = n
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an int64"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}

struct EtcdHeader: Decodable, Sendable {
    var revision: EtcdInt?
}

struct EtcdKeyValue: Decodable, Sendable {
    var key: EtcdBytes
    var value: EtcdBytes?
    var create_revision: EtcdInt?
    var mod_revision: EtcdInt?
    var version: EtcdInt?
    var lease: EtcdInt?

    var leaseID: Int64 { lease?.value ?? 0 }
    var bytes: [UInt8] { value?.bytes ?? [] }
}

struct EtcdRangeRequest: Encodable, Sendable {
    var key: EtcdBytes
    var range_end: EtcdBytes?
    var revision: EtcdInt?
}

struct EtcdRangeResponse: Decodable, Sendable {
    var header: EtcdHeader?
    var kvs: [EtcdKeyValue]?
}

struct EtcdPutRequest: Encodable, Sendable {
    var key: EtcdBytes
    var value: EtcdBytes
    var lease: EtcdInt?
    var prev_kv: Bool?
}

struct EtcdDeleteRequest: Encodable, Sendable {
    var key: EtcdBytes
    var prev_kv: Bool?
}

struct EtcdDeleteResponse: Decodable, Sendable {
    var header: EtcdHeader?
    var deleted: EtcdInt?
    var prev_kvs: [EtcdKeyValue]?
}

/// One comparison of a transaction.
struct EtcdCompare: Encodable, Sendable {
    var key: EtcdBytes
    var target: String
    var result: String = "EQUAL"
    var create_revision: EtcdInt?
    var value: EtcdBytes?

    /// The key does not exist.
    static func absent(_ key: EtcdBytes) -> EtcdCompare { EtcdCompare(key: key, target: "CREATE", create_revision: 0) }
    /// The key holds `value`.
    static func holds(_ key: EtcdBytes, _ value: EtcdBytes) -> EtcdCompare { EtcdCompare(key: key, target: "VALUE", value: value) }
}

/// One operation of a transaction (the registry's are puts only).
struct EtcdOperation: Encodable, Sendable {
    var request_put: EtcdPutRequest

    static func put(_ p: EtcdPutRequest) -> EtcdOperation { EtcdOperation(request_put: p) }
}

struct EtcdTxnRequest: Encodable, Sendable {
    var compare: [EtcdCompare]
    var success: [EtcdOperation]
    var failure: [EtcdOperation]
}

struct EtcdTxnResponse: Decodable, Sendable {
    struct Answer: Decodable, Sendable {
        struct Put: Decodable, Sendable { var prev_kv: EtcdKeyValue? }
        var response_put: Put?
    }
    var header: EtcdHeader?
    var succeeded: Bool?
    var responses: [Answer]?

    var didSucceed: Bool { succeeded ?? false }
}

struct EtcdLeaseRequest: Encodable, Sendable {
    var ID: EtcdInt?
    var TTL: EtcdInt?
}

struct EtcdLeaseGrant: Decodable, Sendable {
    var ID: EtcdInt?
    var TTL: EtcdInt?
}

struct EtcdKeepAliveResponse: Decodable, Sendable {
    struct Result: Decodable, Sendable { var TTL: EtcdInt? }
    var result: Result?
}

struct EtcdWatchRequest: Encodable, Sendable {
    struct Create: Encodable, Sendable {
        var key: EtcdBytes
        var range_end: EtcdBytes
        var start_revision: EtcdInt
        var prev_kv: Bool
        var progress_notify: Bool
    }
    var create_request: Create
}

/// One message of the watch stream.
struct EtcdWatchMessage: Decodable, Sendable {
    struct Event: Decodable, Sendable {
        /// Absent for a put (the zero value), "DELETE" for a deletion or an expiry.
        var type: String?
        var kv: EtcdKeyValue
        var prev_kv: EtcdKeyValue?

        var isDelete: Bool { type == "DELETE" }
    }
    struct Result: Decodable, Sendable {
        var header: EtcdHeader?
        var created: Bool?
        var canceled: Bool?
        var compact_revision: EtcdInt?
        var cancel_reason: String?
        var events: [Event]?
    }
    /// How the gateway ends a stream it cannot go on with (`etcdserver: no leader`).
    struct StreamError: Decodable, Sendable {
        var message: String?
        var http_code: Int?
    }
    var result: Result?
    var error: StreamError?
}

/// What the gateway answers for a refused call.
struct EtcdErrorAnswer: Decodable, Sendable {
    var error: String?
    var message: String?
    var code: Int?
}
