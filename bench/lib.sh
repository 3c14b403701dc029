# bench/lib.sh: helpers the bench scripts share (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# The first of N (default 256) consecutive free loopback ports (for the stub nodes).
free_port_block() {
  python3 -c '
import socket, sys
n = int(sys.argv[1])
for base in range(31000, 65000 - n, n + 44):
    ok = True
    for p in range(base, base + n):
        s = socket.socket()
        try: s.bind(("127.0.0.1", p))
        except OSError: ok = False
        s.close()
        if not ok: break
    if ok: print(base); break' "${1:-256}"
}

# A cluster token signed with $1 (HS256, "cluster": true, valid for a day): the cluster API
# takes no other, for POST /itResources.
hs256_token() {
  python3 - "$1" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()); p = b64(json.dumps({"exp": int(time.time()) + 86400, "cluster": True}).encode())
print((h + b"." + p + b"." + b64(hmac.new(sys.argv[1].encode(), h + b"." + p, hashlib.sha256).digest())).decode())
PY
}

# Waits at most 20 s for a listener on loopback PORT; stops the script when none comes.
wait_port() {
  local k=0
  until { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; do
    k=$((k + 1)); [ "$k" -lt 2000 ] || { echo "nothing listens on port $1 after 20 s"; exit 1; }
    sleep 0.01
  done
  exec 3>&-
}

# Registers a node with a sidecar's cluster API: TOKEN (a cluster token, hs256_token), the
# cluster port, the node's id and URL, and its cluster URL (default: its URL).
register_node() {
  curl -s -o /dev/null -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d "{\"id\":\"$3\",\"type\":\"bench\",\"url\":\"$4\",\"clusterUrl\":\"${5:-$4}\"}" "http://127.0.0.1:$2/itResources"
}

# The base URLs of COUNT nodes on loopback from port FIRST, comma-separated.
node_urls() { local s=""; for k in $(seq 0 $(($2 - 1))); do s="$s${s:+,}http://127.0.0.1:$(($1 + k))"; done; echo "$s"; }

# The top of an nginx.conf for the benches' references: WORKERS processes, its pid and error
# log in DIR, no access log; the caller writes the http block's servers and closes it.
nginx_conf_head() { # WORKERS DIR
  printf 'worker_processes %s;\nworker_rlimit_nofile 65536;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n' "$1" "$2" "$2"
  printf 'events { worker_connections 20000; }\nhttp {\n  access_log off;\n'
}
