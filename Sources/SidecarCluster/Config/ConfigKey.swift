import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// Every setting the sidecar reads: its environment variable (the raw value), its flag,
/// its default as shown in `--help`, and what it means.
package enum ConfigKey: String, CaseIterable, SettingKey {
    case mitURL = "MIT_URL"
    case serverType = "SERVER_TYPE"
    case serverID = "SERVER_ID"
    case serverURL = "SERVER_URL"
    case clusterURL = "CLUSTER_URL"
    case clusterManagement = "CLUSTER_MANAGEMENT"
    case localAddress = "LOCAL_ADDRESS"
    case localPort = "LOCAL_PORT"
    case clusterAddress = "CLUSTER_ADDRESS"
    case clusterPort = "CLUSTER_PORT"
    case registrationRetry = "REGISTRATION_RETRY"
    case registrationConcurrentDelay = "REGISTRATION_CONCURRENT_DELAY"
    case leaseTimeDefault = "LEASE_TIME_DEFAULT"
    case oauthTokenURL = "OAUTH_TOKEN_URL"
    case oauthClientID = "OAUTH_CLIENT_ID"
    case oauthClientSecret = "OAUTH_CLIENT_SECRET"
    case mitToken = "MIT_TOKEN"
    case jwtSecret = "JWT_SECRET"
    case jwtPublicKeyFile = "JWT_PUBLIC_KEY_FILE"
    case jwtIssuer = "JWT_ISSUER"
    case jwtAudience = "JWT_AUDIENCE"
    case localAPIToken = "LOCAL_API_TOKEN"
    case applicationHealthURL = "APP_HEALTH_URL"
    case drainTimeout = "DRAIN_TIMEOUT"
    case pidFile = "PID_FILE"
    case logLevel = "LOG_LEVEL"
    case headerTimeout = "HEADER_TIMEOUT"
    case keepAliveTimeout = "KEEPALIVE_TIMEOUT"
    case bodyTimeout = "BODY_TIMEOUT"
    case maxTargetBytes = "MAX_TARGET_BYTES"
    case maxHeaderBytes = "MAX_HEADER_BYTES"
    case maxHeaderFields = "MAX_HEADER_FIELDS"
    case maxBodyBytes = "MAX_BODY_BYTES"
    case maxConnections = "MAX_CONNECTIONS"
    case workers = "WORKERS"
    case fanoutConcurrency = "FANOUT_CONCURRENCY"
    case fanoutTimeout = "FANOUT_TIMEOUT"
    case fanoutMaxResponseBytes = "FANOUT_MAX_RESPONSE_BYTES"
    case fanoutMaxPending = "FANOUT_MAX_PENDING"
    case fanoutMaxBufferedBytes = "FANOUT_MAX_BUFFERED_BYTES"
    case fanoutEjectAfter = "FANOUT_EJECT_AFTER"
    case fanoutEjectTime = "FANOUT_EJECT_TIME"
    case fanoutMaxEjectedPercent = "FANOUT_MAX_EJECTED_PERCENT"
    case fanoutProbeInterval = "FANOUT_PROBE_INTERVAL"
    case fanoutDNSTTL = "FANOUT_DNS_TTL"
    case clusterMaxServers = "CLUSTER_MAX_SERVERS"
    case clusterMaxMetadataBytes = "CLUSTER_MAX_METADATA_BYTES"
    case clusterTLSCertFile = "CLUSTER_TLS_CERT_FILE"
    case clusterTLSKeyFile = "CLUSTER_TLS_KEY_FILE"
    case clusterTLSClientCAFile = "CLUSTER_TLS_CLIENT_CA_FILE"
    case clusterTLSAllowedSANs = "CLUSTER_TLS_ALLOWED_SANS"
    case tlsCAFile = "TLS_CA_FILE"
    case tlsMinVersion = "TLS_MIN_VERSION"
    case maxWatchers = "MAX_WATCHERS"

    package var variable: String { rawValue }

    /// Secrets may come from `<NAME>_FILE` and are never echoed.
    package var isSecret: Bool {
        switch self {
        case .oauthClientSecret, .mitToken, .jwtSecret, .localAPIToken: true
        default: false
        }
    }

    /// Secrets, and the log level (its file is read again by a settings refresh).
    package var hasFileForm: Bool { isSecret || self == .logLevel }

    /// The default as `--help` shows it.
    package var defaultText: String {
        switch self {
        case .mitURL: "unset: no registration, a cluster of one"
        case .serverType: "required with MIT_URL"
        case .serverURL: "required with MIT_URL; under run with APP_PORT, http://<APP_ADDRESS or the host address>:<APP_PORT>"
        case .clusterURL: "http://<CLUSTER_ADDRESS, or the host address for 0.0.0.0>:<CLUSTER_PORT>"
        case .clusterManagement: "true"
        case .localAddress: "127.0.0.1"
        case .localPort: "8461"
        case .clusterAddress: "0.0.0.0"
        case .clusterPort: "8460"
        case .registrationRetry: "10"
        case .registrationConcurrentDelay: "60"
        case .leaseTimeDefault: "7200"
        case .jwtSecret, .jwtPublicKeyFile: "none: the cluster API refuses every call but health"
        case .drainTimeout: "30"
        case .logLevel: "info"
        case .headerTimeout: "10"
        case .keepAliveTimeout: "30"
        case .bodyTimeout: "30"
        case .maxTargetBytes: "8192"
        case .maxHeaderBytes: "16384"
        case .maxHeaderFields: "100"
        case .maxBodyBytes: "1048576"
        case .maxConnections: "10000"
        case .workers: "one per core"
        case .fanoutConcurrency: "1024"
        case .fanoutTimeout: "10"
        case .fanoutMaxResponseBytes: "1048576"
        case .fanoutMaxPending: "256"
        case .fanoutMaxBufferedBytes: "134217728 (128 MiB)"
        case .fanoutEjectAfter: "3"
        case .fanoutEjectTime: "5"
        case .fanoutMaxEjectedPercent: "50"
        case .fanoutProbeInterval: "2"
        case .fanoutDNSTTL: "30"
        case .clusterMaxServers: "10000"
        case .clusterMaxMetadataBytes: "16384"
        case .clusterTLSCertFile: "none: the cluster listener speaks plain HTTP"
        case .clusterTLSKeyFile: "required with CLUSTER_TLS_CERT_FILE"
        case .clusterTLSClientCAFile: "none: no client certificate asked for"
        case .clusterTLSAllowedSANs: "none: any certificate the client CA signed"
        case .tlsCAFile: "the system's CA bundle"
        case .tlsMinVersion: "1.2"
        case .maxWatchers: "1024"
        default: "none"
        }
    }

    /// One line on what the setting means.
    package var meaning: String {
        switch self {
        case .mitURL: "Registry (mIT) base URL; several, comma-separated: one is used, the next when it fails."
        case .serverType: "Service type: the cluster is every server of this type."
        case .serverID: "A fixed server id (else mIT assigns one)."
        case .serverURL: "The application's public base URL (fan-out target)."
        case .clusterURL: "This sidecar's public cluster URL."
        case .clusterManagement: "Cluster management on or off (true/false)."
        case .localAddress: "Local API listener address."
        case .localPort: "Local API listener port (0: any free port)."
        case .clusterAddress: "Cluster API listener address."
        case .clusterPort: "Cluster API listener port (0: any free port)."
        case .registrationRetry: "Seconds between registration attempts."
        case .registrationConcurrentDelay: "Seconds after the first registration before the second one."
        case .leaseTimeDefault: "Lease time in seconds when mIT gives none."
        case .oauthTokenURL: "OAuth token endpoint (client-credentials grant); several, comma-separated, tried in turn."
        case .oauthClientID: "OAuth client id."
        case .oauthClientSecret: "OAuth client secret."
        case .mitToken: "Static bearer token for mIT instead of the grant."
        case .jwtSecret: "HS256 secret for inbound JWTs."
        case .jwtPublicKeyFile: "PEM file of public keys for inbound RS256/ES256 JWTs."
        case .jwtIssuer: "Required `iss` of inbound JWTs."
        case .jwtAudience: "Required `aud` of inbound JWTs."
        case .localAPIToken: "Bearer token the local API demands."
        case .applicationHealthURL: "The application's health URL, probed for readiness."
        case .drainTimeout: "Longest graceful shutdown, in seconds."
        case .pidFile: "File to write the process id to once listening; removed on exit."
        case .logLevel: "trace, debug, info, notice, warning, error or critical; a LOG_LEVEL_FILE is read again on SIGHUP."
        case .headerTimeout: "Seconds to receive a request head."
        case .keepAliveTimeout: "Seconds a kept-alive connection may stay idle."
        case .bodyTimeout: "Seconds to receive a request body."
        case .maxTargetBytes: "Longest request target in bytes (414 above)."
        case .maxHeaderBytes: "Largest header block in bytes (431 above)."
        case .maxHeaderFields: "Most header fields (431 above)."
        case .maxBodyBytes: "Largest request body in bytes (413 above)."
        case .maxConnections: "Most open connections; new ones past it are closed at once."
        case .workers: "Event loops (threads)."
        case .fanoutConcurrency: "Most node requests of one fan-out in flight at once (a larger cluster goes in waves)."
        case .fanoutTimeout: "Per-node fan-out deadline in seconds (a request's timeout, in ms, overrides)."
        case .fanoutMaxResponseBytes: "Largest answer kept per node (a larger one is a too_large failure)."
        case .fanoutMaxPending: "Most fan-outs in flight at once; beyond it 503 with Retry-After."
        case .fanoutMaxBufferedBytes: "Memory budget of the answers fan-outs in flight hold; while spent, new fan-outs get 503."
        case .fanoutEjectAfter: "Failures by io or bad_response in a row that eject a node (connect and timeout eject at once)."
        case .fanoutEjectTime: "First ejection of a failing node, in seconds; doubles with each new one, up to 300."
        case .fanoutMaxEjectedPercent: "Most of the cluster's nodes ejected at once, in percent (one node always may be)."
        case .fanoutProbeInterval: "Seconds between checks of an ejected node's /readyz on its cluster URL; the first 2xx readmits it."
        case .fanoutDNSTTL: "Seconds a node's resolved host name is kept (a failed resolution: a tenth, at least 1)."
        case .clusterMaxServers: "Most servers in the cluster view; a push past it is refused (507)."
        case .clusterMaxMetadataBytes: "Largest metadata of one server, as JSON text; a larger one is refused (413)."
        case .clusterTLSCertFile:
            "PEM certificate chain: the cluster listener speaks TLS only, and it is the sidecar's client certificate outbound."
        case .clusterTLSKeyFile: "PEM private key of CLUSTER_TLS_CERT_FILE."
        case .clusterTLSClientCAFile:
            "PEM CAs: callers of the cluster listener must present a certificate they signed (the probes /healthz and /readyz excepted)."
        case .clusterTLSAllowedSANs:
            "Comma-separated DNS names, IP addresses or URIs (spiffe://...): a client certificate must carry one as a SAN, exactly."
        case .tlsCAFile: "PEM CAs trusted for every outbound https:// call."
        case .tlsMinVersion: "Lowest TLS version, inbound and outbound: 1.2 or 1.3."
        case .maxWatchers: "Most blocking queries and event streams open at once; beyond it 503 with Retry-After."
        }
    }

}

extension ConfigKey {
    /// The sidecar's credentials, never passed to a supervised worker: with the JWT secret or
    /// the OAuth client's secret, the application (and anything it runs) could mint tokens that
    /// every sidecar of the cluster accepts. The local API token stays: it is how the
    /// application calls its sidecar.
    package static var withheldFromWorkers: [ConfigKey] { allCases.filter { $0.isSecret && $0 != .localAPIToken } }
}
