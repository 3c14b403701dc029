#!/usr/bin/env bash
# The status page in a real browser: starts the embedded registry and two sidecars (the first
# running the demo's echo application with two workers, `run`), opens the first one's /ui in
# Debian's chromium (driven by Playwright) and checks that the page lists both members,
# registered, with traffic figures, and the two workers ready. Saves a screenshot (UI_SCREENSHOT, default
# a temporary file). Needs a built binary: BIN (default .build/debug/cluster-sidecar).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.build/debug/cluster-sidecar}"
if ! command -v chromium >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
python3 -c 'import playwright' 2>/dev/null || pip install -q playwright
# shellcheck source=bench/lib.sh
. bench/lib.sh
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
SECRET=ui-test-secret-0123456789abcdef0123
REG=$(free_port)
REGISTRY_SECRET=$SECRET REGISTRY_CLIENT_ID=ui REGISTRY_CLIENT_SECRET=ui "$BIN" registry --port "$REG" --lease-time 5 >"$WORK/registry.log" 2>&1 &
wait_port "$REG"
LOCALS=()
for k in 1 2; do
  L=$(free_port); C=$(free_port)
  RUN=()
  [ "$k" = 1 ] && RUN=(run --app-workers 2 --app-address 127.0.0.1 --app-port 0 --app-ready notify -- "$BIN" echo)
  MIT_URL=http://127.0.0.1:$REG OAUTH_TOKEN_URL=http://127.0.0.1:$REG/oauth/token OAUTH_CLIENT_ID=ui OAUTH_CLIENT_SECRET=ui \
    JWT_SECRET=$SECRET SERVER_TYPE=echo SERVER_ID="node-$k" SERVER_URL="http://127.0.0.1:9/app$k" \
    LOCAL_PORT=$L CLUSTER_PORT=$C CLUSTER_ADDRESS=127.0.0.1 REGISTRATION_RETRY=0.5 LOCAL_API_TOKEN=ui-token \
    "$BIN" "${RUN[@]}" >"$WORK/sidecar$k.log" 2>&1 &
  LOCALS+=("$L")
done
for L in "${LOCALS[@]}"; do wait_port "$L"; done
SHOT="${UI_SCREENSHOT:-$WORK/status-page.png}"
python3 - "http://127.0.0.1:${LOCALS[0]}/ui" "$SHOT" <<'PY'
import sys
from playwright.sync_api import sync_playwright, expect
url, shot = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    # The local API needs its token: the page asks for it.
    expect(page.locator("#token-form")).to_be_visible(timeout=10_000)
    page.fill("#token", "ui-token")
    page.click("#token-form button")
    members = page.locator("#members tr")
    expect(members).to_have_count(2, timeout=20_000)
    expect(page.locator("#members")).to_contain_text("node-1")
    expect(page.locator("#members")).to_contain_text("node-2")
    expect(page.locator("#members-title")).to_have_text("Cluster members (2)")
    expect(page.locator("#registration")).to_contain_text("registered")
    expect(page.locator("#traffic tr")).to_have_count(2)
    expect(page.locator("#problem")).to_be_hidden()
    expect(page.locator("#workers tr")).to_have_count(2)
    expect(page.locator("#workers")).to_contain_text("ready")
    expect(page.locator("#app-title")).to_contain_text("generation 1")
    page.screenshot(path=shot, full_page=True)
    browser.close()
    if errors:
        sys.exit("page errors: " + "; ".join(errors))
print(f"ui-test: the page lists both members and the two workers ({url}); screenshot {shot}")
PY
