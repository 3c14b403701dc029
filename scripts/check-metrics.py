#!/usr/bin/env python3
"""Reads a running sidecar's /metrics with the Prometheus reference parser (prometheus_client)
and checks that every family the README promises is there and that labels stay bounded:
routes are route patterns (or unmatched/refused), never raw paths.

Usage: scripts/check-metrics.py http://127.0.0.1:PORT [TOKEN]"""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

url = sys.argv[1].rstrip("/") + "/metrics"
request = urllib.request.Request(url)
if len(sys.argv) > 2:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
with urllib.request.urlopen(request, timeout=5) as r:
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
    text = r.read().decode()

families = {f.name: f for f in text_string_to_metric_families(text)}
# The parser names counters without their _total suffix.
expected = {
    "cluster_sidecar_http_request_duration_seconds": "histogram",
    "cluster_sidecar_connections_open": "gauge",
    "cluster_sidecar_connections": "counter",
    "cluster_sidecar_fanout_duration_seconds": "histogram",
    "cluster_sidecar_fanout_nodes": "counter",
    "cluster_sidecar_fanout_node_failures": "counter",
    "cluster_sidecar_fanout_ejected_nodes": "gauge",
    "cluster_sidecar_fanout_ejections": "counter",
    "cluster_sidecar_cluster_servers": "gauge",
    "cluster_sidecar_registration_state": "gauge",
    "cluster_sidecar_registrations": "counter",
    "cluster_sidecar_lease_renewals": "counter",
    "cluster_sidecar_membership_changes": "counter",
    "cluster_sidecar_registry_moves": "counter",
    "cluster_sidecar_watchers": "gauge",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
problems = [f"{name}: missing or not a {kind}" for name, kind in expected.items() if getattr(families.get(name), "type", None) != kind]

routes, methods, series = set(), set(), 0
for sample in families["cluster_sidecar_http_request_duration_seconds"].samples:
    series += 1
    routes.add(sample.labels["route"])
    methods.add(sample.labels["method"])
bad = [r for r in routes if r not in ("unmatched", "refused") and not r.startswith("/")]
if bad:
    problems.append(f"route labels that are not patterns: {bad}")
allowed_methods = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other"}
if not methods <= allowed_methods:
    problems.append(f"unbounded method labels: {methods - allowed_methods}")
codes = {s.labels["code"] for s in families["cluster_sidecar_fanout_node_failures"].samples}
if not codes <= {"connect", "timeout", "tls", "too_large", "cancelled", "io", "bad_request", "shutdown", "bad_response", "ejected", "dns", "http_status"}:
    problems.append(f"unbounded failure codes: {codes}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"check-metrics: {len(families)} families parse; {len(routes)} route labels ({', '.join(sorted(routes))}); {series} request samples")
