import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer

/// createItResource and deleteServer on the cluster API (contract §5-6).
package enum ClusterRoutes {
    struct Count: Encodable {
        var nbServers: Int
    }

    struct Deleted: Encodable {
        var nbServers: Int
        var serverId: String
    }

    package static func add(to router: inout Router, context: SidecarContext) {
        router.onAsync("POST", "/itResources") { request in
            let server: ServerInfo
            switch ServerInfo.checked(request.body) {
            case .success(let s): server = s
            case .failure(let problem): return .error(400, code: "bad_request", message: "not a server: \(problem.message)")
            }
            if let type = context.me?.type, !type.isEmpty, server.type != type {
                return .error(
                    409, code: "wrong_type", message: "server of type \(JSON.quote(server.type)) in a cluster of type \(JSON.quote(type))")
            }
            switch context.view.upsert(server) {
            case .added: return .json(201, encoding: Count(nbServers: context.view.count))
            case .updated: return .json(200, encoding: Count(nbServers: context.view.count))
            case .refused(let full, let reason):
                return full ? .error(507, code: "view_full", message: reason) : .error(413, code: "server_too_large", message: reason)
            }
        }
        router.onAsync("DELETE", "/servers/{serverId}") { request in
            let id = request.pathParameters["serverId"] ?? ""
            let ownID = await context.registrar?.snapshot().serverId ?? context.me?.id
            if id == ownID {
                // mIT dropped us: register again (the registrar ignores this while shutting down).
                await context.registrar?.forgotten()
                return .json(200, encoding: Deleted(nbServers: context.view.count, serverId: id))
            }
            guard context.view.remove(id) else { return .error(404, code: "not_found", message: "no such server in the cluster") }
            return .json(200, encoding: Deleted(nbServers: context.view.count, serverId: id))
        }
    }
}
