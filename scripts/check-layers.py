#!/usr/bin/env python3
"""Checks that the layering ARCHITECTURE.md states is the one Package.swift and the sources have.

ARCHITECTURE.md holds a ```layers block, one line per target: `Target: what it may use` (the
targets of this package only). This script fails when
- a target named there is missing from Package.swift, or one of Package.swift is not named;
- a target depends (Package.swift) on a target of this package the block does not allow;
- a source file imports a module of this package its target does not depend on.

Usage: scripts/check-layers.py   (from anywhere; reads `swift package dump-package`)
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module(name):
    """A target's module name (`cluster-sidecar` is imported as `cluster_sidecar`)."""
    return name.replace("-", "_")


def stated_layers(text):
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    if not block:
        sys.exit("check-layers: ARCHITECTURE.md has no ```layers block")
    layers = {}
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        target, _, uses = line.partition(":")
        layers[target.strip()] = set(uses.replace(",", " ").split())
    return layers


def main():
    with open(os.path.join(ROOT, "ARCHITECTURE.md")) as f:
        layers = stated_layers(f.read())
    package = json.loads(subprocess.check_output(["swift", "package", "dump-package"], cwd=ROOT))
    targets = {t["name"]: t for t in package["targets"]}
    problems = []
    for name in sorted(set(layers) - set(targets)):
        problems.append(f"ARCHITECTURE.md names {name}, which Package.swift does not have")
    for name in sorted(set(targets) - set(layers)):
        problems.append(f"Package.swift has {name}, which ARCHITECTURE.md's layers do not name")
    local = {module(n): n for n in targets}
    for name, target in sorted(targets.items()):
        declared = set()
        for dep in target.get("dependencies", []):
            for kind in ("byName", "target"):
                if kind in dep:
                    declared.add(dep[kind][0])
        declared &= set(targets)
        allowed = layers.get(name, set())
        for dep in sorted(declared - allowed):
            problems.append(f"{name} depends on {dep}: ARCHITECTURE.md does not allow it")
        path = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
        for directory, _, files in os.walk(os.path.join(ROOT, path)):
            for file in files:
                if not file.endswith(".swift"):
                    continue
                with open(os.path.join(directory, file)) as f:
                    for imported in re.findall(r"^(?:@\w+ )*(?:\w+ )?import (\w+)\s*$", f.read(), re.M):
                        used = local.get(imported)
                        if used and used != name and used not in declared:
                            rel = os.path.relpath(os.path.join(directory, file), ROOT)
                            problems.append(f"{rel} imports {imported}, which {name} does not depend on")
    for p in problems:
        print("check-layers:", p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-layers: {len(targets)} targets, their arrows and imports match ARCHITECTURE.md")


if __name__ == "__main__":
    main()
