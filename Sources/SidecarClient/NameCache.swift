import SidecarPosix
import Synchronization

/// Host names resolved for our own client, shared by every loop: a bounded cache whose entries
/// live `ttl` (`FANOUT_DNS_TTL`; a failure lives a tenth of it, at least one second), filled by
/// one resolver thread of its own (an `EventLoop` whose work is `getaddrinfo`), so that no
/// event loop ever waits on the system resolver. Names asked for while being resolved are
/// resolved once.
package final class NameCache: Sendable {
    /// What the cache knows of a name now.
    package enum Lookup: Sendable, Equatable {
        /// Its addresses (port 0), in the resolver's order of preference.
        case addresses([SocketAddress])
        /// It did not resolve: why.
        case failed(String)
        /// Not known, or known too long ago: resolve it.
        case unknown
    }

    private struct Entry {
        var lookup: Lookup
        var expires: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var resolving: [String: [@Sendable () -> Void]] = [:]
        var loop: EventLoop?
    }

    private let ttl: Duration
    private let capacity: Int
    private let resolve: @Sendable (String) -> Result<[SocketAddress], HostResolver.ResolveError>
    private let state = Mutex(State())

    /// A cache of at most `capacity` names, resolved by `resolve` (the system's by default).
    package init(
        ttl: Duration = .seconds(30), capacity: Int = 4096,
        resolve: @escaping @Sendable (String) -> Result<[SocketAddress], HostResolver.ResolveError> = HostResolver.resolve
    ) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
        self.resolve = resolve
    }

    deinit { state.withLock { $0.loop?.stop() } }

    /// What is known of `host` at `now` (monotonic nanoseconds).
    package func lookup(_ host: String, now: UInt64) -> Lookup {
        state.withLock { s in
            guard let e = s.entries[host], e.expires > now else { return .unknown }
            return e.lookup
        }
    }

    /// Resolves each of `hosts` that is not being resolved already, off every event loop;
    /// `then` runs once all of them are known (on the resolver's thread).
    package func resolve(_ hosts: [String], then: @escaping @Sendable () -> Void) {
        let left = Atomic<Int>(hosts.count)
        let one: @Sendable () -> Void = { if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { then() } }
        guard !hosts.isEmpty else { return then() }
        var start: [String] = []
        let loop: EventLoop? = state.withLock { s in
            for host in hosts {
                if s.resolving[host] != nil {
                    s.resolving[host]!.append(one)
                } else {
                    s.resolving[host] = [one]
                    start.append(host)
                }
            }
            if s.loop == nil, !start.isEmpty, let made = try? EventLoop() {
                made.start()
                s.loop = made
            }
            return s.loop
        }
        guard let loop else {
            for host in start { finish(host, .failed("no resolver thread")) }
            return
        }
        for host in start {
            loop.execute { [self] in
                switch resolve(host) {
                case .success(let addresses): finish(host, .addresses(addresses))
                case .failure(let error): finish(host, .failed(error.message))
                }
            }
        }
    }

    private func finish(_ host: String, _ lookup: Lookup) {
        let now = SystemClock().now.nanoseconds
        let life = if case .failed = lookup { max(1_000_000_000, ttl.nanoseconds / 10) } else { ttl.nanoseconds }
        let waiting: [@Sendable () -> Void] = state.withLock { s in
            if s.entries.count >= capacity {
                s.entries = s.entries.filter { $0.value.expires > now }
                if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
            }
            s.entries[host] = Entry(lookup: lookup, expires: now &+ UInt64(max(1, life)))
            return s.resolving.removeValue(forKey: host) ?? []
        }
        for w in waiting { w() }
    }
}
