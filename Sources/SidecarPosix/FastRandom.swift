import CSidecarSystem

/// Fast non-cryptographic randomness (a per-thread wyrand): correlation ids, jitter.
package enum FastRandom {
    /// 64 random bits; any thread, no lock.
    @inline(__always) package static func next() -> UInt64 { csidecar_random64() }
}
