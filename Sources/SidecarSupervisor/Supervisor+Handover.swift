import Glibc
import Logging
import SidecarPosix

/// The hand-over between generations on the application's port.
///
/// With one socket shared by every generation, the old workers take new connections up to the
/// moment they get SIGTERM, and a runtime that closes the connections it accepted but has not
/// read yet when it stops (uvicorn) drops those requests. So each generation after the first
/// gets a listening socket of its own on the same port, joined to the serving one's
/// `SO_REUSEPORT` group (the first is bound without, so that a port another process holds is
/// refused, and allows it afterwards), and the kernel is told (a one-instruction BPF program) which member
/// takes new connections: the serving socket (number 0) while the new generation starts; the
/// new one (number 1) once it is ready. The old workers' SIGTERM waits until their socket's
/// accept queue is empty and has stayed so for `quiet` (at most `maxHold`), so that they stop
/// with nothing fresh in hand. A reload that rolls back never took a connection: its socket
/// closes empty. An old socket closes once its generation has no worker left.
struct Handover {
    /// Each generation's listening socket (fd 3 of its workers).
    var sockets: [Int: Int32] = [:]
    /// The group's sockets in the kernel's order: joined at the end; one that closes is replaced
    /// by the last (as `reuseport_detach_sock` does). The BPF program names a socket by it.
    var group: [Int32] = []
    /// The socket new connections are steered to (its index changes when another closes).
    var target: Int32?
    /// SIGTERMs held until the old generation's socket has drained.
    var held: [pid_t] = []
    /// The socket being drained, since when, and since when its queue is empty.
    var draining: (fd: Int32, since: MonotonicInstant, emptySince: MonotonicInstant?)?
    /// How long the old socket must stay empty before its workers are stopped.
    static let quiet: Duration = .milliseconds(250)
    /// The longest SIGTERMs are held.
    static let maxHold: Duration = .seconds(2)
    /// How often the accept queue is read while holding.
    static let poll: Duration = .milliseconds(10)

    /// When to look at the draining socket again, `now` on the supervisor's clock (nil: nothing held).
    func nextCheck(now: MonotonicInstant) -> MonotonicInstant? { held.isEmpty ? nil : now + Self.poll }

    /// `fd` left the group: the kernel moves the last socket into its place.
    mutating func leave(_ fd: Int32) {
        guard let k = group.firstIndex(of: fd) else { return }
        group[k] = group[group.count - 1]
        group.removeLast()
    }
}

extension Supervisor {
    /// The listening socket of `generation`'s workers: the first generation's is `launch.listener`;
    /// a later one gets its own (or shares the serving one's when that cannot be done).
    func socket(for generation: Int) -> Int32? {
        guard let first = launch.listener else { return nil }
        if let fd = handover.sockets[generation] { return fd }
        guard let serving = handover.sockets[machine.generation] ?? handover.sockets.values.first else {
            handover.sockets[generation] = first
            handover.group = [first]
            return first
        }
        guard let address = launch.address else {
            handover.sockets[generation] = serving
            return serving
        }
        do throws(SystemError) {
            // New connections stay with the serving socket for now: steered before the new one
            // joins when the group exists (a socket that listened with SO_REUSEPORT has one, alone
            // or not; the first only once another joined), and again once it has joined.
            try Socket.allowReusePort(serving)
            if serving != launch.listener || handover.group.count > 1 { try steer(to: serving) }
            let (fd, _) = try Socket.listenShared(on: address, reusePort: true)
            handover.sockets[generation] = fd
            handover.group.append(fd)
            try steer(to: serving)
            return fd
        } catch {
            logger.warning(
                "the new generation shares the serving generation's socket", metadata: ["generation": "\(generation)", "error": "\(error)"])
            handover.sockets[generation] = serving
            return serving
        }
    }

    /// Holds the SIGTERM of a worker of an older generation than the serving one when the two
    /// have sockets of their own: new connections go to the new socket first, and the old
    /// workers stop once theirs has drained. False: send it now.
    func holdUntilDrained(_ pid: pid_t) -> Bool {
        guard !machine.shuttingDown, let w = machine.worker(pid: pid), w.generation < machine.generation,
            let old = handover.sockets[w.generation], let new = handover.sockets[machine.generation], old != new
        else { return false }
        if handover.draining?.fd != old {
            do throws(SystemError) {
                try steer(to: new)
            } catch {
                logger.warning("cannot steer new connections to the new generation", metadata: ["error": "\(error)"])
                return false
            }
            handover.draining = (old, clock.now, nil)
        }
        handover.held.append(pid)
        return true
    }

    /// Sends the held SIGTERMs once the old socket's queue has stayed empty for `quiet`, or
    /// after `maxHold` (or half the stop timeout, when shorter).
    func releaseIfDrained(now: MonotonicInstant) {
        guard var d = handover.draining, !handover.held.isEmpty else { return }
        let waiting = ListenerSocketStats.acceptQueue(d.fd)?.waiting ?? 0
        if waiting > 0 {
            d.emptySince = nil
        } else if d.emptySince == nil {
            d.emptySince = now
        }
        handover.draining = d
        let limit = min(Handover.maxHold, settings.stopTimeout / 2)
        let quiet = d.emptySince.map { now - $0 >= Handover.quiet } ?? false
        guard quiet || now - d.since >= limit else { return }
        for pid in handover.held where machine.worker(pid: pid)?.state == .stopping { WorkerSpawn.signal(pid, SIGTERM) }
        logger.debug(
            "old generation's socket drained",
            metadata: ["workers": "\(handover.held.count)", "waited_ms": "\(Int((now - d.since).seconds * 1000))"])
        handover.held = []
    }

    /// Steers new connections to `fd` (by its number in the group) and remembers it.
    func steer(to fd: Int32) throws(SystemError) {
        guard let index = handover.group.firstIndex(of: fd) else { throw SystemError("handover", errno: ENOENT) }
        try Socket.steer(fd, to: UInt32(index))
        handover.target = fd
    }

    /// Closes the sockets of generations that have no worker left (and are not starting).
    func closeUnusedSockets() {
        for (generation, fd) in handover.sockets where generation != machine.generation {
            let starting = machine.operation?.generation == generation
            guard !starting, !machine.workers.contains(where: { $0.generation == generation }) else { continue }
            handover.sockets[generation] = nil
            if handover.draining?.fd == fd { handover.draining = nil }
            // The first generation's too: a socket left open in the group would still be given
            // connections no worker takes.
            if !handover.sockets.values.contains(fd) {
                Glibc.close(fd)
                handover.leave(fd)
                // The sockets moved: the program names the target by its new number.
                if let target = handover.target, handover.group.count > 1 {
                    do throws(SystemError) {
                        try steer(to: target)
                    } catch {
                        logger.warning("cannot steer new connections after a socket closed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}
