import SidecarCluster
import SidecarHTTP

/// `/status` as plain-text tables (`cluster-sidecar status`). Reads the JSON loosely: a
/// missing field prints as `-`.
enum StatusTables {
    static func render(_ s: [String: JSONValue]) -> String {
        var out = ""
        let process = s["process"]?.object ?? [:]
        out +=
            "cluster-sidecar \(s["version"]?.text ?? "-")  pid \(process["pid"]?.text ?? "-")  up \(duration(s["uptimeSeconds"]?.number))"
        out += "  rss \(mebibytes(process["residentBytes"]?.number))  fds \(process["openFDs"]?.text ?? "-")\n\n"

        let reg = s["registration"]?.object ?? [:]
        let health = s["health"]?.object ?? [:]
        let renewals = s["leaseRenewals"]?.object ?? [:]
        let registrations = s["registrations"]?.object ?? [:]
        out += table(
            ["REGISTRATION", "SERVER ID", "LEASE", "NEXT LEASE", "LEASES OK/FAILED", "REGISTRATIONS OK/FAILED", "LAST ERROR"],
            [
                [
                    s["REGISTRATION_STATUS"]?.text ?? "-", reg["serverId"]?.text ?? s["server"]?.object?["id"]?.text ?? "-",
                    s["CLUSTER_STATUS_LEASE_TIME"]?.number.map { "\(Int($0))s" } ?? "-",
                    renewals["nextInSeconds"]?.number.map { "in \(Int($0.rounded()))s" } ?? "-",
                    "\(renewals["ok"]?.text ?? "0")/\(renewals["failed"]?.text ?? "0")",
                    "\(registrations["ok"]?.text ?? "0")/\(registrations["failed"]?.text ?? "0")", reg["lastError"]?.text ?? "-",
                ]
            ])
        out += "\n"
        out += table(
            ["IN ROTATION", "READY", "APPLICATION", "DRAINING"],
            [
                [
                    yes(health["inRotation"]), yes(health["ready"]), health["applicationHealthy"]?.bool == false ? "unhealthy" : "healthy",
                    yes(health["draining"]),
                ]
            ])
        out += "\n"

        let cluster = s["cluster"]?.object ?? [:]
        let servers = cluster["servers"]?.array ?? []
        out += "CLUSTER: \(servers.count) server\(servers.count == 1 ? "" : "s"), updated \(cluster["updatedAt"]?.text ?? "never")\n"
        out += table(
            ["ID", "TYPE", "URL", "CLUSTER URL"],
            servers.map { v in
                let o = v.object ?? [:]
                return [o["id"]?.text ?? "-", o["type"]?.text ?? "-", o["url"]?.text ?? "-", o["clusterUrl"]?.text ?? "-"]
            })
        out += "\n"

        let traffic = s["traffic"]?.array ?? []
        out += table(
            ["LISTENER", "OPEN", "TOTAL", "2xx", "3xx", "4xx", "5xx", "BYTES IN", "BYTES OUT"],
            traffic.map { v in
                let t = v.object ?? [:]
                let r = t["requests"]?.object ?? [:]
                return [
                    t["listener"]?.text ?? "-", t["openConnections"]?.text ?? "-", t["totalConnections"]?.text ?? "-",
                    r["2xx"]?.text ?? "0",
                    r["3xx"]?.text ?? "0", r["4xx"]?.text ?? "0", r["5xx"]?.text ?? "0", t["bytesIn"]?.text ?? "0",
                    t["bytesOut"]?.text ?? "0",
                ]
            })
        let fan = s["fanOut"]?.object ?? [:]
        let failures = (fan["failures"]?.object ?? [:]).compactMap { k, v in
            (v.number ?? 0) > 0 ? "\(TerminalText.escaped(k)) \(v.text)" : nil
        }.sorted()
        out += "\nFAN-OUTS: \(fan["count"]?.text ?? "0"), to \(fan["nodes"]?.text ?? "0") nodes; failures: "
        out += failures.isEmpty ? "none\n" : failures.joined(separator: ", ") + "\n"
        if let app = s["app"]?.object { out += "\n" + workers(app) }
        return out
    }

    /// How a worker's predecessor ended: `replaced` when the supervisor asked (a reload), else
    /// its signal or exit code.
    static func lastExit(_ l: [String: JSONValue]) -> String {
        let how = l["signal"].map { "signal \($0.text)" } ?? "code \(l["code"]?.text ?? "-")"
        return l["expected"]?.bool == true ? "replaced (\(how))" : how
    }

    /// Under `run`: the workers, like `pm2 ls`, and the last rolling change.
    static func workers(_ app: [String: JSONValue]) -> String {
        let socket = app["socket"]?.object
        var out = "WORKERS: generation \(app["generation"]?.text ?? "-"), socket \(socket?["address"]?.text ?? "none")"
        if let socket {
            let n = socket["connections"]?.number ?? 0
            out += " (\(Int(n)) connection\(n == 1 ? "" : "s"), \(socket["acceptQueue"]?.text ?? "0") queued)"
        }
        out += "\n"
        out += table(
            ["ID", "PID", "GEN", "STATE", "UPTIME", "RESTARTS", "CPU", "MEMORY", "LAST EXIT", "STATUS"],
            (app["workers"]?.array ?? []).map { v in
                let w = v.object ?? [:]
                let last = w["lastExit"]?.object
                let exit = last.map(Self.lastExit) ?? "-"
                var state = w["state"]?.text ?? "-"
                if w["crashLooping"]?.bool == true { state += " (crash loop)" }
                return [
                    w["id"]?.text ?? "-", w["pid"]?.text ?? "-", w["generation"]?.text ?? "-", state,
                    w["pid"]?.number != nil ? duration(w["uptimeSeconds"]?.number) : "-",
                    w["restarts"]?.text ?? "0", w["cpuSeconds"]?.number.map { "\(Double(Int($0 * 10)) / 10)s" } ?? "-",
                    mebibytes(w["rssBytes"]?.number), exit, w["status"]?.text ?? "-",
                ]
            })
        if let running = app["running"]?.object {
            out += "RUNNING: \(change(running))\n"
        }
        if let last = app["lastReload"]?.object { out += "LAST RELOAD: \(change(last))\n" }
        if let last = app["lastReplacement"]?.object { out += "LAST REPLACEMENT: \(change(last))\n" }
        return out
    }

    /// `generation 3 succeeded`, `worker 1 (memory) rolled_back: why`.
    static func change(_ c: [String: JSONValue]) -> String {
        var out =
            c["kind"]?.text == "replace"
            ? "worker \(c["worker"]?.text ?? "-") (\(c["reason"]?.text ?? "-")) \(c["result"]?.text ?? "-")"
            : "generation \(c["generation"]?.text ?? "-") \(c["result"]?.text ?? "-")"
        if let error = c["error"], error != .null { out += ": \(error.text)" }
        return out
    }

    /// Columns padded to their widest cell, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (k, cell) in row.enumerated() where k < widths.count { widths[k] = max(widths[k], cell.count) } }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (k, cell) in cells.enumerated() {
                text += k == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[k] - cell.count + 2)
            }
            return text + "\n"
        }
        return line(header) + rows.map(line).joined() + (rows.isEmpty ? "(none)\n" : "")
    }

    static func yes(_ v: JSONValue?) -> String { v?.bool == true ? "yes" : v?.bool == false ? "no" : "-" }

    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\(s % 3600 / 60)m"
    }

    static func mebibytes(_ bytes: Double?) -> String {
        guard let bytes else { return "-" }
        return "\(Double(Int(bytes / 1_048_576 * 10)) / 10) MiB"
    }
}

extension JSONValue {
    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var number: Double? { if case .number(let n) = self { n } else { nil } }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// Strings with control characters escaped (they come from peers and workers, and are
    /// printed on a terminal), numbers without a needless `.0`, others as JSON.
    var text: String {
        switch self {
        case .string(let s): return TerminalText.escaped(s)
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "-"
        default: return String(decoding: JSONCoding.encode(self), as: UTF8.self)
        }
    }
}
