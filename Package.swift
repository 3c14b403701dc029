// swift-tools-version:6.0
import PackageDescription

// Layers, each depending only on the ones above it in this list (ARCHITECTURE.md draws them):
//   CSidecarSystem, CCurl    C shims: system headers Glibc does not export; libcurl
//   SidecarPosix             syscalls, sockets, epoll, the reactor (mailbox, hosted sources), the clock; no HTTP
//   SidecarHTTP              the HTTP message, pure: fields, byte classes, request and response parsers, body decoder, JSON text
//   SidecarServer            response writer, connection state machine, router, middleware, the server on the reactor
//   SidecarClient            our own client and the libcurl engine; attach to any reactor; no server code
//   SidecarSettings          settings: keys, the reader (flags over environment, *_FILE secrets), errors
//   SidecarSupervisor        supervisor mode: the pure machine, its shell on a loop, its settings, service and routes
//   SidecarCluster           configuration, registration, view, fan-out, tokens and JWT, the sidecar's routes and services
//   SidecarRegistry          the embedded registry (mIT's side of the contract)
//   cluster-sidecar          the command: options, wiring, the service group
let releaseOnly: [SwiftSetting] = [
    // Loop state is confined to its thread (checked in debug builds); runtime exclusivity
    // checks cost ~2 % of a request.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "cluster-sidecar",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cluster-sidecar", targets: ["cluster-sidecar"])
    ],
    // Exact versions: Package.resolved is not committed, so a range would let two clones
    // build different code. Each is the version the offline package set holds.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        /// System headers Swift's Glibc module does not export (epoll, eventfd, TCP options).
        .target(name: "CSidecarSystem"),
        /// libcurl, with typed wrappers for its variadic calls.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        /// Syscalls, sockets, epoll, the reactor and the clock. Knows no HTTP.
        .target(name: "SidecarPosix", dependencies: ["CSidecarSystem"], swiftSettings: releaseOnly),
        /// OpenSSL 3 (Debian's libssl, which libcurl links too): contexts, sessions, the verify
        /// and ALPN callbacks, and the macros Swift cannot call.
        .target(name: "CSidecarTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        /// How a connection's bytes cross its socket: plain, or TLS on OpenSSL.
        .target(name: "SidecarTLS", dependencies: ["CSidecarTLS", "SidecarPosix"], swiftSettings: releaseOnly),
        /// The HTTP/1.1 message, pure: fields, byte classes, parsers, body decoder, status and JSON text.
        .target(name: "SidecarHTTP", swiftSettings: releaseOnly),
        /// The inbound server: response writer, connection state machine, router, middleware, the
        /// server hosted on the reactor.
        .target(
            name: "SidecarServer",
            dependencies: ["CSidecarSystem", "SidecarPosix", "SidecarTLS", "SidecarHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: releaseOnly),
        /// The outbound clients: our own on the reactor, and libcurl's. No server code.
        .target(
            name: "SidecarClient", dependencies: ["CSidecarSystem", "CCurl", "SidecarPosix", "SidecarTLS", "SidecarHTTP"],
            swiftSettings: releaseOnly),
        /// Settings as every subcommand reads them: keys, typed values, one error shape.
        .target(
            name: "SidecarSettings",
            dependencies: ["SidecarPosix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: releaseOnly),
        /// Supervisor mode (`cluster-sidecar run`): the application's workers.
        .target(
            name: "SidecarSupervisor",
            dependencies: [
                "CSidecarSystem", "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarSettings",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: releaseOnly),
        /// The sidecar itself: configuration, registration, cluster view, fan-out, tokens and JWT,
        /// the routes of both listeners and the lifecycle services.
        .target(
            name: "SidecarCluster",
            dependencies: [
                "CSidecarSystem", "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient", "SidecarTLS", "SidecarSettings",
                "SidecarSupervisor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            // Served by the local API as they are; links to openapi.yaml and ui/status.html,
            // embedded at build time (no generated source, no step to forget).
            resources: [.embedInCode("Resources/openapi.yaml"), .embedInCode("Resources/status.html")],
            swiftSettings: releaseOnly),
        /// The embedded development registry.
        .target(
            name: "SidecarRegistry",
            dependencies: [
                "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient", "SidecarTLS", "SidecarSettings", "SidecarCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: releaseOnly),
        /// The command: options, wiring, the service group.
        .executableTarget(
            name: "cluster-sidecar",
            dependencies: [
                "CSidecarSystem", "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient", "SidecarTLS", "SidecarSettings",
                "SidecarSupervisor",
                "SidecarCluster", "SidecarRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            // Release links with lld: relative relocations packed (DT_RELR: 1.5 MB of .rela.dyn
            // gone, fewer pages written at exec), and no dynamic symbol
            // table (nothing loads symbols from the command; 1.9 MB). See bench/README.md.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-Xlinker", "--no-export-dynamic",
                    ], .when(configuration: .release))
            ]
        ),
        /// The fuzz targets (bench/fuzz.sh builds them with -sanitize=fuzzer -DFUZZING; without
        /// them the binary replays inputs through the same targets).
        .target(name: "CFuzzDriver"),
        .executableTarget(
            name: "sidecar-fuzz",
            dependencies: ["CFuzzDriver", "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient", "SidecarCluster"]),
        /// Load drivers for the bench/ scripts.
        .executableTarget(
            name: "sidecar-bench",
            dependencies: [
                "CSidecarSystem", "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient",
                .product(name: "Logging", package: "swift-log"),
            ]),
        /// Test helpers: real servers, raw sockets and the built binary on port 0.
        .target(
            name: "SidecarTestSupport",
            dependencies: ["SidecarPosix", "SidecarHTTP", "SidecarServer", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SidecarTestSupport"),
        // One test target per layer, each depending on its layer and those below only.
        .testTarget(name: "SidecarPosixTests", dependencies: ["SidecarPosix"]),
        /// Request vectors both the pure parser tests and the socket tests replay.
        .target(name: "SidecarTestVectors", path: "Tests/SidecarTestVectors"),
        .testTarget(name: "SidecarHTTPTests", dependencies: ["SidecarHTTP", "SidecarTestVectors"]),
        .testTarget(
            name: "SidecarServerTests",
            dependencies: ["SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarTestSupport", "SidecarTestVectors"]),
        .testTarget(
            name: "SidecarClientTests",
            dependencies: ["SidecarPosix", "SidecarTLS", "SidecarHTTP", "SidecarClient", "SidecarTestSupport", "SidecarTestCertificates"]),
        .testTarget(name: "SidecarSettingsTests", dependencies: ["SidecarSettings"]),
        /// Certificates the TLS tests make with the openssl command.
        .target(name: "SidecarTestCertificates", path: "Tests/SidecarTestCertificates"),
        .testTarget(name: "SidecarTLSTests", dependencies: ["SidecarPosix", "SidecarTLS", "SidecarTestCertificates"]),
        .testTarget(name: "SidecarSupervisorTests", dependencies: ["SidecarPosix", "SidecarSettings", "SidecarSupervisor"]),
        .testTarget(
            name: "SidecarClusterTests",
            dependencies: [
                "SidecarPosix", "SidecarHTTP", "SidecarServer", "SidecarClient", "SidecarSettings", "SidecarSupervisor", "SidecarCluster",
                "SidecarRegistry", "SidecarTestSupport", "SidecarTestCertificates",
                // Built for the process tests, which run the binaries.
                "cluster-sidecar", "sidecar-fuzz",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
