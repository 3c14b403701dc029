import SidecarHTTP
import SidecarServer

/// `GET /app/workers`, `POST /app/reload`, `POST /app/workers/{id}/restart` (local API):
/// the application's workers under `cluster-sidecar run`; 409 `no_supervisor` otherwise.
package enum WorkerRoutes {
    /// Adds the routes; `supervision` gives the supervisor and its socket's address, when one runs.
    package static func add(to router: inout Router, supervision: @escaping @Sendable () -> (supervisor: Supervisor, socket: String?)?) {
        router.onAsync("GET", "/app/workers") { _ in
            guard let (supervisor, socket) = supervision() else { return noSupervisor() }
            return .json(200, encoding: await supervisor.status(socketAddress: socket), fields: .noStore)
        }
        router.onAsync("POST", "/app/reload") { _ in
            guard let (supervisor, _) = supervision() else { return noSupervisor() }
            return answer(await supervisor.reload(), supervisor)
        }
        router.onAsync("POST", "/app/workers/{id}/restart") { request in
            guard let (supervisor, _) = supervision() else { return noSupervisor() }
            guard let text = request.pathParameters["id"], let id = workerID(text) else {
                return .error(400, code: "bad_worker_id", message: "the worker id is a whole number (APP_WORKER_ID)")
            }
            return answer(await supervisor.replace(id: id), supervisor)
        }
    }

    /// 202 with the change started, or why not.
    static func answer(_ result: Result<SupervisorMachine.Operation, SupervisorMachine.Refusal>, _ supervisor: Supervisor) -> HTTPResponse {
        switch result {
        case .success(let op):
            return .json(202, encoding: supervisor.change(op))
        case .failure(.busy(let running)):
            let c = supervisor.change(running)
            let what = c.kind == "reload" ? "a reload to generation \(c.generation)" : "the replacement of worker \(c.worker ?? 0)"
            return .error(409, code: "reload_in_progress", message: "\(what) is running; try again when it has ended (GET /app/workers)")
        case .failure(.shuttingDown):
            return .error(503, code: "shutting_down", message: "the sidecar is stopping its workers")
        case .failure(.noSuchWorker(let id)):
            return .error(404, code: "no_such_worker", message: "no worker \(id): ids run from 0 to APP_WORKERS - 1")
        case .failure(.notRunning(let id)):
            return .error(409, code: "worker_not_running", message: "worker \(id) is waiting to be started again")
        }
    }

    /// A whole number (`-1` and numbers past `Int` are no worker's id, so 404, not 400).
    static func workerID(_ text: String) -> Int? {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text) ?? -1
    }

    static func noSupervisor() -> HTTPResponse {
        .error(409, code: "no_supervisor", message: "this sidecar runs no workers (start it as cluster-sidecar run -- COMMAND)")
    }
}
