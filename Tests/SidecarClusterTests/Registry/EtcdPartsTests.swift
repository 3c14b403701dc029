import Foundation
import Synchronization
import Testing

@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarRegistry
@testable import SidecarSettings

/// The pure parts of the registry on etcd: the gateway's encodings, the watch stream's lines,
/// what a watch event pushes, and the settings.
@Suite struct EtcdPartsTests {
    func kv(_ id: String, type: String = "t", cluster: Bool = true, created: Int64, version: Int64 = 1) -> EtcdKeyValue {
        let stored = StoredServer(
            server: ServerInfo(id: id, type: type, url: "http://\(id)", clusterUrl: "http://\(id):1"), cluster: cluster)
        return EtcdKeyValue(
            key: EtcdBytes("/p/servers/\(id)"), value: EtcdBytes(bytes: JSONCoding.encode(stored)), create_revision: EtcdInt(created),
            mod_revision: EtcdInt(created + version - 1), version: EtcdInt(version), lease: 7)
    }

    func put(_ kv: EtcdKeyValue) -> EtcdWatchMessage.Event { .init(type: nil, kv: kv, prev_kv: nil) }
    func delete(_ old: EtcdKeyValue, at revision: Int64) -> EtcdWatchMessage.Event {
        .init(type: "DELETE", kv: EtcdKeyValue(key: old.key, mod_revision: EtcdInt(revision)), prev_kv: old)
    }

    @Test func aFirstPut_isAJoin_aPutAgainTellsNobody_aDeletionIsALeave_toTheClusterPeersOfTheType() {
        var view = PushView(
            [kv("a", created: 2), kv("quiet", cluster: false, created: 3), kv("other", type: "u", created: 4)], revision: 4)
        let join = view.apply(put(kv("b", created: 5)))
        #expect(join?.kind == .joined && join?.server.id == "b")
        #expect(join?.peers.map(\.id) == ["a"], "only members of its type that take part in cluster management")
        #expect(view.apply(put(kv("b", created: 5, version: 2))) == nil, "a re-registration is not a join")
        let leave = view.apply(delete(kv("a", created: 2), at: 7))
        #expect(leave?.kind == .left && leave?.server.id == "a" && leave?.peers.map(\.id) == ["b"])
        #expect(view.apply(delete(kv("a", created: 2), at: 8)) == nil, "a key already gone tells nobody")
        #expect(view.revision == 8)
        view.reach(12)
        #expect(view.revision == 12)
        #expect(view.table.servers.map(\.server.id) == ["quiet", "other", "b"], "in registration order")
    }

    @Test func aValueThatIsNotAServer_isPassedOver() {
        var view = PushView([], revision: 1)
        let junk = EtcdKeyValue(key: EtcdBytes("/p/servers/x"), value: EtcdBytes("not json"), create_revision: 2, version: 1)
        #expect(view.apply(put(junk)) == nil)
        #expect(view.table.rows.isEmpty && view.revision == 1)
    }

    @Test func theWatchStream_isSplitIntoLines_whereverItsPiecesEnd() {
        var lines = WatchLines()
        let text = Array("{\"a\":1}\n{\"b\":\n2}\n\n{\"c\"".utf8)
        var got: [String] = []
        got += text[0..<3].withUnsafeBytes { lines.take($0) }.map { String(decoding: $0, as: UTF8.self) }
        got += text[3..<12].withUnsafeBytes { lines.take($0) }.map { String(decoding: $0, as: UTF8.self) }
        got += text[12...].withUnsafeBytes { lines.take($0) }.map { String(decoding: $0, as: UTF8.self) }
        #expect(got == [#"{"a":1}"#, #"{"b":"#, "2}"])
        got = Array("}\n".utf8).withUnsafeBytes { lines.take($0) }.map { String(decoding: $0, as: UTF8.self) }
        #expect(got == [#"{"c"}"#], "a message cut across pieces is whole once its line ends")
    }

    @Test func theGatewaysEncodings_base64Bytes_int64AsStrings_prefixEnds() throws {
        #expect(String(decoding: JSONCoding.encode(EtcdBytes("/p/")), as: UTF8.self) == #""L3Av""#)
        #expect(String(decoding: JSONCoding.encode(EtcdInt(9_007_199_254_740_993)), as: UTF8.self) == #""9007199254740993""#)
        let answer = try #require(
            JSONCoding.decode(
                EtcdTxnResponse.self, Array(#"{"header":{"revision":"12"},"responses":[{"response_put":{"header":{}}}]}"#.utf8)))
        #expect(!answer.didSucceed && answer.header?.revision?.value == 12, "false is left out by the gateway")
        #expect(JSONCoding.decode(EtcdInt.self, Array("42".utf8))?.value == 42)
        #expect(EtcdBytes("/p/").prefixEnd == EtcdBytes("/p0"))
        #expect(EtcdBytes(bytes: [0x61, 0xff]).prefixEnd == EtcdBytes(bytes: [0x62]))
        #expect(EtcdBytes(bytes: [0xff]).prefixEnd == EtcdBytes(bytes: [0]), "all keys")
        let event = try #require(
            JSONCoding.decode(
                EtcdWatchMessage.self,
                Array(
                    #"{"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"L3Avc2VydmVycy9h","mod_revision":"4"}}]}}"#
                        .utf8)))
        #expect(event.result?.events?.first?.isDelete == true && event.result?.header?.revision?.value == 4)
        // How the gateway ends a watch on a member that lost its leader (seen with etcd 3.4).
        let noLeader = try #require(
            JSONCoding.decode(
                EtcdWatchMessage.self,
                Array(
                    #"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#
                        .utf8)))
        #expect(noLeader.result == nil && noLeader.error?.message == "etcdserver: no leader")
        #expect(EtcdKeys(prefix: "/x").servers.text == "/x/servers/" && EtcdKeys(prefix: "/x/").leader.text == "/x/push/leader")
    }

    @Test func thePushWindow_keepsEachServersOrder_andRecordsOnlyWhatWasTold() async {
        let told = Mutex<[String]>([])
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        var window = PushWindow()
        await window.start("a", at: 5) {
            for await _ in gate { break }  // a peer that takes its time
            told.withLock { $0.append("a5") }
        }
        await window.start("b", at: 6) { told.withLock { $0.append("b6") } }
        await window.start("a", at: 7) { told.withLock { $0.append("a7") } }
        for _ in 0..<100 where told.withLock({ $0 }) != ["b6"] { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(told.withLock { $0 } == ["b6"], "another server's change is not held up; the same server's waits")
        #expect(window.settled(upTo: 7) == 4, "nothing is recorded past a change still being told")
        open.yield()
        await window.finishAll()
        #expect(told.withLock { $0 } == ["b6", "a5", "a7"])
        #expect(window.settled(upTo: 7) == 7)
    }

    func resolve(_ env: [String: String]) -> Result<RegistryConfiguration, ConfigError> {
        var all = ["REGISTRY_SECRET": String(repeating: "s", count: 32), "REGISTRY_CLIENT_ID": "c", "REGISTRY_CLIENT_SECRET": "x"]
        for (k, v) in env { all[k] = v }
        return Result { () throws(ConfigError) in try RegistryConfiguration.resolve(SettingsReader(environment: all)) }
    }

    @Test func theStoreSettings_etcdNeedsEndpoints_andEachMistakeIsNamed() throws {
        #expect(try resolve([:]).get().store == .memory)
        let etcd = try resolve(["REGISTRY_STORE": "etcd", "ETCD_ENDPOINTS": "http://a:2379, http://b:2379/"]).get()
        #expect(
            etcd.store
                == .etcd(
                    endpoints: ["http://a:2379", "http://b:2379"], prefix: "/cluster-sidecar/", caFile: nil, certificateFile: nil,
                    keyFile: nil))
        func refusal(_ env: [String: String]) -> String {
            guard case .failure(let e) = resolve(env) else { return "accepted" }
            return e.description
        }
        #expect(refusal(["REGISTRY_STORE": "redis"]).contains("REGISTRY_STORE"))
        #expect(refusal(["REGISTRY_STORE": "etcd"]).contains("ETCD_ENDPOINTS"))
        #expect(refusal(["REGISTRY_STORE": "etcd", "ETCD_ENDPOINTS": "a:2379"]).contains("ETCD_ENDPOINTS"))
        #expect(refusal(["REGISTRY_STORE": "etcd", "ETCD_ENDPOINTS": "http://a", "ETCD_CERT_FILE": "/c"]).contains("ETCD_KEY_FILE"))
        #expect(refusal(["REGISTRY_STORE": "etcd", "ETCD_ENDPOINTS": "http://a", "ETCD_CA_FILE": "/nonexistent"]).contains("ETCD_CA_FILE"))
    }
}

extension PushNotice: Equatable {
    public static func == (a: PushNotice, b: PushNotice) -> Bool { a.kind == b.kind && a.server == b.server && a.peers == b.peers }
}
