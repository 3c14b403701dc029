// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cluster-sidecar",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cluster-sidecar", targets: ["cluster-sidecar"]),
        .library(name: "SidecarCore", targets: ["SidecarCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-crypto", "4.1.0"..<"5.0.0"),
    ],
    targets: [
        /// System headers Swift's Glibc module does not export (epoll, eventfd, TCP options).
        .target(name: "CSidecarSystem"),
        /// libcurl, with typed wrappers for its variadic calls.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        /// The core: sockets, the HTTP/1.1 server, configuration, health and logging.
        .target(
            name: "SidecarCore",
            dependencies: [
                "CSidecarSystem",
                "CCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            // Loop state is confined to its thread; runtime exclusivity checks cost ~2 % of a request.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        /// The command: options, wiring, signals.
        .executableTarget(
            name: "cluster-sidecar",
            dependencies: [
                "SidecarCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// Load drivers for the bench/ scripts.
        .executableTarget(name: "sidecar-bench", dependencies: ["SidecarCore"]),
        .testTarget(
            name: "SidecarCoreTests",
            dependencies: [
                "SidecarCore", "CSidecarSystem", "cluster-sidecar",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
