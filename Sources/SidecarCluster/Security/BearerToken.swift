/// `Authorization: Bearer <token>` read as RFC 9110 §11.4 and RFC 6750 §2.1 write it: the
/// scheme in any case, one or more spaces, then the token (no space in it).
package enum BearerToken {
    /// The token of an `Authorization` value, or nil when it is not a bearer credential.
    package static func extract(_ value: String) -> Substring? {
        let v = Substring(value)
        guard v.utf8.count > 7, v.utf8.prefix(6).map({ $0 | 0x20 }) == Array("bearer".utf8), v.utf8.dropFirst(6).first == 0x20 else {
            return nil
        }
        let token = v.dropFirst(6).drop { $0 == " " }
        guard !token.isEmpty, !token.contains(" ") else { return nil }
        return token
    }
}
