# syntax=docker/dockerfile:1
# Build: the same steps as .ci/run proves (scripts/setup.sh, then a static-stdlib release build).
FROM swift:6.3.1-bookworm AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN ./scripts/setup.sh
COPY Package.swift ./
COPY Sources Sources
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib --product cluster-sidecar \
    && install -D .build/release/cluster-sidecar /out/cluster-sidecar

# Run: glibc, libcurl and CA certificates; no toolchain, no shell tools needed.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/cluster-sidecar /usr/local/bin/cluster-sidecar
USER 65532:65532
# 8460: cluster API (mIT and peers). 8461: local API, loopback inside the pod.
EXPOSE 8460
ENTRYPOINT ["/usr/local/bin/cluster-sidecar"]
