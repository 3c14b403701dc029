import SidecarHTTP
import SidecarPosix

extension CorrelationID {
    /// A new random id (any thread; a per-thread generator, no lock).
    package static func make() -> CorrelationID { CorrelationID(random: FastRandom.next(), FastRandom.next()) }
}
