# syntax=docker/dockerfile:1
# Build: the same steps as .ci/run proves (scripts/setup.sh, a static-stdlib release build,
# strip; scripts/image-check.sh runs them and the health check on the result).
FROM swift:6.3.1-bookworm AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN ./scripts/setup.sh
COPY Package.swift openapi.yaml ./
COPY ui ui
COPY Sources Sources
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib --product cluster-sidecar \
    && install -D .build/release/cluster-sidecar /out/cluster-sidecar \
    && strip /out/cluster-sidecar

# Run: glibc, libcurl, OpenSSL 3 and CA certificates; no toolchain, no shell tools needed.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcurl4 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/cluster-sidecar /usr/local/bin/cluster-sidecar
USER 65532:65532
# 8460: the cluster API (the registry and peers call it; it also answers /healthz and /readyz
# without a token, for orchestrators' probes).
# 8461: the local API, on 127.0.0.1 only. The application reaches it by sharing the sidecar's
# network namespace: the same Kubernetes pod, or `network_mode: service:<app>` in compose
# (deploy/ has both), then http://127.0.0.1:8461.
EXPOSE 8460
# Probes the local /healthz with the container's own LOCAL_ADDRESS/LOCAL_PORT (set the local
# listener through those variables, not flags, for this check to find it).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/cluster-sidecar", "health"]
ENTRYPOINT ["/usr/local/bin/cluster-sidecar"]
