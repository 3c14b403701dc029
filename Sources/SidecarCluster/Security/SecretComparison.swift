import SidecarSettings

/// Comparisons of a presented credential with a configured secret that leak neither content
/// nor a usable prefix through their result or their timing.
package enum SecretComparison {
    /// Whether `presented` equals `secret`, byte for byte and in length.
    ///
    /// The loop always walks the whole secret, so its time depends on the secret's length and
    /// the presented one's, never on where the bytes differ; a length mismatch is kept in a
    /// full-width word, so no length difference can cancel out (a prefix never matches).
    package static func equals(_ presented: some Collection<UInt8>, _ secret: some Collection<UInt8>) -> Bool {
        let given = Array(presented)
        var diff = UInt(bitPattern: given.count ^ secret.count)
        var k = 0
        for byte in secret {
            // Past the presented bytes, compare with the secret's complement: always unequal.
            let other = k < given.count ? given[k] : ~byte
            diff |= UInt(other ^ byte)
            k += 1
        }
        return diff == 0
    }

    /// `equals` on the UTF-8 bytes of two strings.
    package static func equals(_ presented: some StringProtocol, _ secret: Secret) -> Bool {
        equals(presented.utf8, secret.value.utf8)
    }
}
