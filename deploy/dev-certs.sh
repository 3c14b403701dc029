#!/usr/bin/env bash
# deploy/dev-certs.sh: a CA and one ECDSA P-256 certificate per service of compose.yaml, into
# deploy/certs, for compose.tls.yaml. For a local try-out only: the keys are left readable by
# the image's unprivileged user.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p certs && cd certs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/CN=compose CA" 2>/dev/null
for name in registry orders billing; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
  printf 'subjectAltName=DNS:%s,URI:spiffe://compose/%s\n' "$name" "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" -days 30 -extfile "$name.ext" 2>/dev/null
  rm "$name.csr" "$name.ext"
  chmod 644 "$name.key"
done
echo "deploy/certs: ca.pem, and registry, orders, billing .pem/.key"
