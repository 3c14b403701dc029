/// `POST /cluster/fanout` and `/cluster/proxy/{path}` (every method) on the local API.
public enum FanOutRoutes {
    public static func add(to router: inout Router, context: SidecarContext, fanOut: FanOut, guarded: (@escaping Router.AsyncHandler) -> Router.AsyncHandler) {
        router.onAsync("POST", "/cluster/fanout", guarded { request in
            let parsed: FanOutRequest
            do throws(FanOutRequest.Invalid) {
                parsed = try FanOutRequest.parse(body: request.body, defaultTimeout: fanOut.settings.timeout)
            } catch {
                return .error(400, code: "bad_fanout", message: error.message)
            }
            return await run(parsed, request, context, fanOut)
        })
        let dropAuthorization = context.configuration.localAPIToken != nil
        for method in FanOutRequest.methods.sorted() {
            router.onAsync(method, "/cluster/proxy/{path...}", guarded { request in
                // The server resolved dot segments for routing; a proxied path must not have had any.
                if request.head.pathAsSent != nil {
                    return .error(400, code: "bad_fanout", message: "url must not hold a . or .. segment")
                }
                let parsed: FanOutRequest
                do throws(FanOutRequest.Invalid) {
                    parsed = try FanOutRequest.proxy(
                        request, rest: request.pathParameters["path"] ?? "", defaultTimeout: fanOut.settings.timeout, dropAuthorization: dropAuthorization)
                } catch {
                    return .error(400, code: "bad_fanout", message: error.message)
                }
                return await run(parsed, request, context, fanOut)
            })
        }
    }

    static func run(_ parsed: FanOutRequest, _ request: HTTPRequest, _ context: SidecarContext, _ fanOut: FanOut) async -> HTTPResponse {
        let selfID = await context.registrar?.snapshot().serverId ?? context.me?.id
        do throws(FanOut.Unavailable) {
            let result = try await fanOut.run(parsed, servers: context.view.snapshot().servers, selfID: selfID, correlationID: request.correlationID)
            return HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", "application/json")]), body: result.json())
        } catch {
            return .error(502, code: "fanout_unavailable", message: error.message)
        }
    }
}
