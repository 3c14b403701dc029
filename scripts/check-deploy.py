#!/usr/bin/env python3
"""Checks the deployment examples: every file parses as YAML, and every sidecar variable and
flag they name is one the binary documents in --help (its own or a subcommand's).

Usage: scripts/check-deploy.py BINARY"""
import pathlib
import re
import subprocess
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/debug/cluster-sidecar")


def help_text(*args):
    return subprocess.run([binary, *args, "--help"], capture_output=True, text=True, check=True).stdout


sidecar_help = help_text()
registry_help = help_text("registry")
run_help = help_text("run")
known_vars = set(re.findall(r"env\s+([A-Z0-9_]+)", sidecar_help + registry_help + run_help))
known_vars |= {v + "_FILE" for v in known_vars}
known_flags = {
    "sidecar": set(re.findall(r"(--[a-z0-9-]+)", sidecar_help)),
    "registry": set(re.findall(r"(--[a-z0-9-]+)", registry_help)),
    "run": set(re.findall(r"(--[a-z0-9-]+)", run_help)),
}
# Variables the examples set for the application or for Kubernetes' own substitution.
not_ours = {"POD_IP", "CLUSTER_SIDECAR_URL", "CLUSTER_SIDECAR_TOKEN_FILE"}

problems = []
checked = 0


def check_env(where, names):
    global checked
    for name in names:
        checked += 1
        if name not in known_vars and name not in not_ours:
            problems.append(f"{where}: {name} is not a variable cluster-sidecar reads")


def check_args(where, args):
    global checked
    args = [str(a) for a in args or []]
    kind = args[0] if args[:1] in (["registry"], ["run"]) else "sidecar"
    # After `--` comes the application's command (run), not ours.
    args = args[: args.index("--")] if "--" in args else args
    for arg in args:
        if arg.startswith("--"):
            checked += 1
            flag = arg.split("=")[0]
            if flag not in known_flags[kind]:
                problems.append(f"{where}: {flag} is not a flag of cluster-sidecar {kind if kind == 'registry' else ''}".rstrip())


documents = []
for path in sorted((root / "deploy").rglob("*.yaml")):
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is not None:
                documents.append((path.relative_to(root), doc))

for path, doc in documents:
    if doc.get("kind") == "Deployment":
        spec = doc["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            if "cluster-sidecar" in c.get("image", ""):
                check_env(f"{path} {c['name']}", [e["name"] for e in c.get("env", [])])
                check_args(f"{path} {c['name']}", c.get("args"))
                if (c.get("args") or [None])[0] != "registry":
                    assert c.get("restartPolicy") == "Always", f"{path}: the sidecar is a native sidecar (restartPolicy: Always)"
        grace = spec.get("terminationGracePeriodSeconds", 30)
        drain = [int(e["value"]) for c in spec.get("initContainers", []) for e in c.get("env", []) if e["name"] == "DRAIN_TIMEOUT"]
        if drain and grace <= drain[0]:
            problems.append(f"{path}: terminationGracePeriodSeconds {grace} is not above DRAIN_TIMEOUT {drain[0]}")
    if "services" in doc:
        for name, service in doc["services"].items():
            if "cluster-sidecar" in str(service.get("image", "")):
                check_env(f"{path} {name}", list((service.get("environment") or {}).keys()))
                check_args(f"{path} {name}", service.get("command"))

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"check-deploy: {len(documents)} documents parse; {checked} variables and flags are all cluster-sidecar's")
