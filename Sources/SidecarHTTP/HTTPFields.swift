/// Header fields in the order received; names compare case-insensitively.
package struct HTTPFields: Sendable, Sequence {
    /// One field line.
    package struct Field: Sendable, Equatable {
        package var name: String
        package var value: String
        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    @usableFromInline package var storage: [Field]

    package init() { storage = [] }

    package init(_ pairs: [(String, String)]) {
        storage = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    package init(reservingCapacity n: Int) {
        storage = []
        storage.reserveCapacity(n)
    }

    package var count: Int { storage.count }

    package func makeIterator() -> IndexingIterator<[Field]> { storage.makeIterator() }

    /// The first value of `name`, or nil.
    package subscript(_ name: String) -> String? {
        for field in storage where field.name.equalsIgnoringASCIICase(name) { return field.value }
        return nil
    }

    /// Every value of `name`, in order.
    package func values(_ name: String) -> [String] {
        storage.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }

    /// Appends a field (no validation: the caller owns the bytes it sends).
    package mutating func append(_ name: String, _ value: String) {
        storage.append(Field(name: name, value: value))
    }

    /// Replaces every field named `name` by one with `value`.
    package mutating func set(_ name: String, _ value: String) {
        remove(name)
        append(name, value)
    }

    /// Removes every field named `name`.
    package mutating func remove(_ name: String) {
        storage.removeAll { $0.name.equalsIgnoringASCIICase(name) }
    }
}

extension HTTPFields {
    /// `Cache-Control: no-store`, for answers that describe the present (health, status).
    package static let noStore = HTTPFields([("Cache-Control", "no-store")])
}

extension String {
    /// ASCII case-insensitive equality, without allocating.
    @inlinable
    package func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        // Native strings: compare their bytes in place.
        if let same = utf8.withContiguousStorageIfAvailable({ x in
            other.utf8.withContiguousStorageIfAvailable { y in
                for i in 0..<x.count where x[i] != y[i] {
                    let l = x[i] | 0x20
                    if l != y[i] | 0x20 || l < 0x61 || l > 0x7A { return false }
                }
                return true
            }
        }), let same {
            return same
        }
        var a = utf8.makeIterator()
        var b = other.utf8.makeIterator()
        while true {
            switch (a.next(), b.next()) {
            case (nil, nil): return true
            case (let x?, let y?):
                if x != y && (x | 0x20) != (y | 0x20) { return false }
                if x != y && !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) { return false }
            default: return false
            }
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing optional whitespace (spaces and tabs, RFC 9110 §5.6.3).
    package func trimmingOWS() -> SubSequence {
        let notOWS: (Character) -> Bool = { $0 != " " && $0 != "\t" }
        guard let start = firstIndex(where: notOWS), let last = lastIndex(where: notOWS) else { return self[endIndex...] }
        return self[start...last]
    }
}
