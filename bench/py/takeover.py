"""The push leadership taken over: one etcd member, two registry replicas, one sidecar. RUNS
times, the leading replica is killed (SIGKILL), a server registered at the other, and the time
until the sidecar's view holds it is printed; the killed replica is then started again.

Usage: takeover.py RUNS BINARY ETCD_DATA_DIR
"""
import json, os, signal, subprocess, sys, time, urllib.request
B=sys.argv[2]; S="bench-secret-0123456789abcdef0123456789"
def free():
    import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
ec, ep = free(), free()
etcd = subprocess.Popen(["etcd","--name","t","--data-dir",sys.argv[3],"--listen-client-urls",f"http://127.0.0.1:{ec}","--advertise-client-urls",f"http://127.0.0.1:{ec}","--listen-peer-urls",f"http://127.0.0.1:{ep}","--initial-advertise-peer-urls",f"http://127.0.0.1:{ep}","--initial-cluster",f"t=http://127.0.0.1:{ep}"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
time.sleep(1.5)
env=dict(os.environ,REGISTRY_SECRET=S,REGISTRY_CLIENT_ID="c",REGISTRY_CLIENT_SECRET="cs",LOG_LEVEL="warning")
ports=[free(),free()]
regs=[subprocess.Popen([B,"registry","--port",str(p),"--lease-time","5","--store","etcd","--etcd-endpoints",f"http://127.0.0.1:{ec}"],env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL) for p in ports]
time.sleep(1.5)
def req(url, data=None, method=None, token=None, form=False):
    h={"Content-Type":"application/x-www-form-urlencoded" if form else "application/json"}
    if token: h["Authorization"]="Bearer "+token
    r=urllib.request.Request(url, data=data.encode() if data else None, headers=h, method=method)
    return json.loads(urllib.request.urlopen(r, timeout=10).read())
tok=req(f"http://127.0.0.1:{ports[0]}/oauth/token","grant_type=client_credentials&client_id=c&client_secret=cs&cluster=true",form=True)["access_token"]
local=free()
senv=dict(os.environ,LOCAL_PORT=str(local),CLUSTER_PORT="0",CLUSTER_ADDRESS="127.0.0.1",MIT_URL=",".join(f"http://127.0.0.1:{p}" for p in ports),OAUTH_TOKEN_URL=",".join(f"http://127.0.0.1:{p}/oauth/token" for p in ports),OAUTH_CLIENT_ID="c",OAUTH_CLIENT_SECRET="cs",SERVER_TYPE="t",SERVER_URL="http://127.0.0.1:9",JWT_SECRET=S,LOG_LEVEL="warning")
sc=subprocess.Popen([B],env=senv,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
time.sleep(2)
def view(): return {s["id"] for s in req(f"http://127.0.0.1:{local}/cluster/servers")["servers"]}
for k in range(int(sys.argv[1])):
    st=[req(f"http://127.0.0.1:{p}/status",token=tok) for p in ports]
    li=[i for i,s in enumerate(st) if s["leader"]]
    if not li: time.sleep(1); continue
    l=li[0]; o=1-l
    t0=time.perf_counter()
    regs[l].send_signal(signal.SIGKILL); regs[l].wait()
    req(f"http://127.0.0.1:{ports[o]}/servers",json.dumps({"id":f"x{k}","type":"t","url":"http://127.0.0.1:9","clusterUrl":"http://127.0.0.1:9","cluster":False}),token=tok)
    while f"x{k}" not in view(): time.sleep(0.01)
    print(f"takeover {k}: pushed {time.perf_counter()-t0:.2f} s after the leading replica's SIGKILL", flush=True)
    regs[l]=subprocess.Popen([B,"registry","--port",str(ports[l]),"--lease-time","5","--store","etcd","--etcd-endpoints",f"http://127.0.0.1:{ec}"],env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    time.sleep(3)
for p in regs+[sc,etcd]: p.kill()
