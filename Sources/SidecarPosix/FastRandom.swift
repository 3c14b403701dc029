import CSidecarSystem

/// Fast non-cryptographic randomness (a per-thread wyrand): correlation ids, jitter.
public enum FastRandom {
    /// 64 random bits; any thread, no lock.
    @inline(__always) public static func next() -> UInt64 { csidecar_random64() }
}
