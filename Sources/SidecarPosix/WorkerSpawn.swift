import CSidecarSystem
import Glibc

/// Starts supervised worker processes the systemd way (sd_listen_fds(3)): an optional socket
/// as fd 3, `LISTEN_FDS=1`, `LISTEN_PID` set to the child's own pid between fork and exec,
/// default signals, a process group of its own, killed with the sidecar (PR_SET_PDEATHSIG).
///
/// Call `spawn` from a thread that outlives the workers (the supervisor's loop): the kernel
/// ties PDEATHSIG to the thread that forked.
package enum WorkerSpawn {
    /// Starts `command` (its first element searched in `PATH`) with `environment`; `listener`
    /// becomes fd 3 with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` set. Returns the pid.
    package static func spawn(command: [String], environment: [(String, String)], listener: Int32?, fdName: String = "app")
        throws(SystemError) -> pid_t
    {
        precondition(!command.isEmpty, "no command")
        var entries = environment.filter { !["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"].contains($0.0) }.map { "\($0.0)=\($0.1)" }
        if listener != nil {
            entries += ["LISTEN_FDS=1", "LISTEN_FDNAMES=\(fdName)"]
        }
        let argv = command.map { strdup($0) } + [nil]
        var envp = entries.map { strdup($0) }
        // Room for the digits the child writes: "LISTEN_PID=" then 20 bytes and the NUL.
        let pidEntry = listener == nil ? nil : strdup("LISTEN_PID=" + String(repeating: "0", count: 20))
        if let pidEntry { envp.append(pidEntry) }
        envp.append(nil)
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let pid = csidecar_spawn_worker(command[0], argv, envp, listener ?? -1, pidEntry.map { $0 + 11 })
        guard pid > 0 else { throw SystemError("fork", errno: csidecar_errno()) }
        return pid
    }

    /// Sends `signal` to the worker's process group (what it started too), or to the worker
    /// alone when it has no group of its own yet.
    package static func signal(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}

/// How a child process ended.
package enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    case code(Int32)
    case signal(Int32)

    /// From a `waitpid` status.
    package init(waitStatus s: Int32) {
        if s & 0x7F == 0 { self = .code((s >> 8) & 0xFF) } else { self = .signal(s & 0x7F) }
    }

    package var description: String {
        switch self {
        case .code(let c): "exit code \(c)"
        case .signal(let s): "signal \(s)\(s == SIGKILL ? " (SIGKILL)" : s == SIGTERM ? " (SIGTERM)" : s == SIGSEGV ? " (SIGSEGV)" : "")"
        }
    }
}

/// SIGCHLD as a descriptor for a reactor, and the reaping of every ended child (as PID 1 in a
/// container, orphans that were re-parented to us too).
package final class ChildExits {
    /// Readable when a child ended; call `reap()` then.
    package let fd: Int32

    package init() throws(SystemError) {
        fd = try syscallChecked("signalfd") { csidecar_child_signals() }
    }

    deinit { close(fd) }

    /// Every child that has ended since the last call, with how.
    package func reap() -> [(pid: pid_t, reason: ExitReason)] {
        csidecar_drain_signalfd(fd)
        var ended: [(pid_t, ExitReason)] = []
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            ended.append((pid, ExitReason(waitStatus: status)))
        }
        return ended
    }
}
