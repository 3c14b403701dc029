import SidecarHTTP

/// What a token must pass before any key is tried, read without trusting it: three base64url
/// parts; a header and a payload that are JSON objects with no name twice (RFC 7519 §4: a
/// parser elsewhere might read the other `exp`); no `crit` (RFC 7515 §4.1.11: we understand
/// no extension); the registered claims of their JSON types (a wrong type is named as such,
/// not taken for a bad signature). Pure, and fuzzed as the JWT front end.
package enum JWTFrontEnd {
    /// The header fields that pick the key.
    package struct Header: Sendable, Equatable {
        package var alg: String
        package var kid: String?
    }

    /// Claims with a JSON type of their own: `exp`, `nbf`, `iat` numbers; `iss`, `sub`, `jti`
    /// strings; `aud` a string or an array of strings; `cluster` a boolean.
    static func typeIsRight(_ name: String, _ value: JSONValue) -> Bool {
        switch (name, value) {
        case ("exp", .number), ("nbf", .number), ("iat", .number): true
        case ("iss", .string), ("sub", .string), ("jti", .string): true
        case ("aud", .string): true
        case ("aud", .array(let items)): items.allSatisfy { if case .string = $0 { true } else { false } }
        case ("cluster", .bool): true
        case ("exp", _), ("nbf", _), ("iat", _), ("iss", _), ("sub", _), ("jti", _), ("aud", _), ("cluster", _): false
        default: true
        }
    }

    package static func check(_ token: String) throws(TokenRejection) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.utf8.allSatisfy(isBase64URL) }),
            let rawHeader = Base64URL.decode(String(parts[0])), let rawPayload = Base64URL.decode(String(parts[1])),
            let header = JSONText.objectMembers(rawHeader), let payload = JSONText.objectMembers(rawPayload)
        else { throw .malformed }

        var seen = Set<String>()
        var alg: String?
        var kid: String?
        for (name, raw) in header {
            guard seen.insert(name).inserted else { throw .duplicate(name) }
            switch name {
            case "crit": throw .unsupportedCritical
            case "alg":
                guard case .string(let a)? = JSONValue.parse(Array(raw)) else { throw .malformed }
                alg = a
            case "kid":
                guard case .string(let k)? = JSONValue.parse(Array(raw)) else { throw .malformed }
                kid = k
            default: break
            }
        }
        guard let alg else { throw .malformed }

        seen.removeAll()
        for (name, raw) in payload {
            guard seen.insert(name).inserted else { throw .duplicate(name) }
            guard let value = JSONValue.parse(Array(raw)) else { throw .malformed }
            guard typeIsRight(name, value) else { throw .claimType(name) }
        }
        return Header(alg: alg, kid: kid)
    }

    @inline(__always)
    static func isBase64URL(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x5F
    }
}
