#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing (Debian/Ubuntu; root or sudo).
set -euo pipefail
need=()
# libcurl for mIT and the peers; OpenSSL 3 for TLS (libcurl links it too).
for pkg in libcurl4-openssl-dev libssl-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
# The TLS tests make their certificates with openssl and call the listener with curl.
for tool in openssl curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
# The registry-on-etcd tests start etcd members of their own on loopback ports.
command -v etcd >/dev/null || need+=(etcd-server)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  echo "installed: ${need[*]}"
fi
