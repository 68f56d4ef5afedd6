#!/usr/bin/env python3
"""Switchyard benchmark harness: Switchyard vs nginx, HAProxy and Traefik, in one run, on loopback.

Layout (2 cores): the proxy under test is pinned to core 0; the load generator (wrk), the backend
(an nginx returning a fixed 2-byte body) and this script are pinned to core 1. Proxies run one at
a time against the same backend with the same load.

Scenarios:
  a  HTTP/1.1 keep-alive             wrk -t1 -c50 -d<dur> --latency -H 'Host: bench.local'
  b  a new connection per request    the same plus -H 'Connection: close'
  c  10,000 host routers vs 1        keep-alive throughput with 10k extra Host(`h<i>.bench`)
                                     routers (Switchyard and Traefik); compared with scenario a
  d  reload under traffic            10k-router config loaded, wrk running; the dynamic file is
                                     rewritten (one router changed) and a poller measures how long
                                     until the new route is served; wrk's non-2xx/socket errors
                                     during the reloads are counted
  e  middleware chain cost           Switchyard and Traefik: one process serves a router with five
                                     middlewares (headers, stripPrefix, redirectScheme that does
                                     not redirect, rateLimit far above the load, compress below its
                                     minimum body size) and the same router without them; keep-alive
                                     wrk as in a, GET /api/bench with Accept-Encoding: gzip, against
                                     each; CPU per request with the chain / without
  f  HTTPS HTTP/2 termination        every proxy terminates TLS (one self-signed ECDSA P-256
                                     certificate per run) and proxies to the plain-HTTP backend;
                                     h2load -c50 -m10 -D<dur> (ALPN h2, SNI bench.local)
  h  observability cost              Switchyard and Traefik: scenario a's load against the same
                                     router twice, in two processes: plain, then with a JSON access
                                     log to a file (accessLog.format json, default buffering) and
                                     Prometheus metrics (on their own entry point, scraped once at
                                     the end to check the requests were counted); CPU per request
                                     with both on / both off
  g  a new TLS connection per        h2load --h1 -c50 -m1 -n<N> -H 'Connection: close' against
     request                         the proxies of f (N: a calibration run's rate x duration): one
                                     TCP connection and one TLS handshake (resumed where the proxy
                                     issues tickets) per request; handshakes/s per proxy core and
                                     CPU per handshake

Per run: requests/s, p50/p99 latency (wrk --latency), proxy CPU-seconds per 100k requests
(utime+stime of the proxy's process tree from /proc/<pid>/stat, before and after the run) and
proxy RSS (sum of VmRSS of the proxy's processes, sampled during the run; idle = before load).
h2load (f, g) gives no latency percentiles: its mean request time is reported instead.

Stdlib only. Every process started here is killed on exit (normal exit, error, SIGINT, SIGTERM).
Run through bench/run.sh; `bench/run.sh --help` lists the options.
"""

import argparse
import atexit
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
PROXY_CORE = "0"
LOAD_CORE = "1"
HOST = "bench.local"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_PROXIES = ["switchyard", "nginx", "haproxy", "traefik"]
ALL_SCENARIOS = ["a", "b", "c", "d", "e", "f", "g", "h"]
TRAEFIK_FORMAT = ["switchyard", "traefik"]  # proxies that read the Traefik configuration files
BODY = "ok"
CHAIN_HOST = "chain.local"  # scenario e: the router with the middleware chain
CHAIN_PATH = "/api/bench"   # scenario e: requested with and without the chain (stripPrefix /api)
PROBE = "/__probe"          # backend location that echoes the path and X-Bench-Request it got
H2_STREAMS = 10             # scenario f: h2load -m (concurrent streams per connection)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Process bookkeeping: everything we start is in its own process group and killed on exit.

_children = []


def spawn(cmd, logfile, **kw):
    """Starts cmd in a new session (process group), output to logfile; registered for cleanup."""
    out = open(logfile, "ab")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    out.close()
    _children.append(p)
    return p


def stop(p, grace=3.0):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    else:
        # The leader exited; make sure no member of its group (e.g. nginx workers) lingers.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if p in _children:
        _children.remove(p)


def stop_all():
    for p in list(reversed(_children)):
        stop(p, grace=2.0)


def _on_signal(signum, _frame):
    log(f"signal {signum}: stopping everything")
    stop_all()
    sys.exit(128 + signum)


# --------------------------------------------------------------------------------------------
# /proc readings

def process_tree(root_pid):
    """root_pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(rest[1]), []).append(int(entry))
        except (OSError, IndexError):
            continue
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def cpu_seconds(pids):
    """utime+stime (all threads) of the given processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            # rest[0] is field 3 (state); utime is field 14, stime field 15.
            total += int(rest[11]) + int(rest[12])
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


# --------------------------------------------------------------------------------------------
# HTTP helpers

def get_status(port, host, timeout=1.0):
    """Status of GET / with the given Host on a fresh connection; None if it fails."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/", headers={"Host": host, "Connection": "close"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except (OSError, http.client.HTTPException):
        return None


def _tls_client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the benchmark's certificate is self-signed
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


_TLS_CLIENT = _tls_client_context()


def fetch(port, host, path="/", tls=False, headers=(), session=None, timeout=2.0):
    """One HTTP/1.1 request on a fresh connection (`Connection: close`, read to EOF), over TLS
    with SNI `host` when tls. Returns a dict: status, headers (lower-case names), body, and for
    TLS version, cipher, alpn, resumed, session (to resume with). None if it fails."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    sock, info = raw, {}
    try:
        if tls:
            sock = _TLS_CLIENT.wrap_socket(raw, server_hostname=host, session=session)
        req = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"] + list(headers)
        sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        if tls:  # after the read: TLS 1.3 session tickets arrive after the handshake
            info = {"version": sock.version(), "cipher": sock.cipher()[0],
                    "alpn": sock.selected_alpn_protocol(), "resumed": sock.session_reused,
                    "session": sock.session}
    except (OSError, ssl.SSLError, ValueError):
        return None
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return {"status": int(m.group(1)), "headers": hdrs, "body": body, **info}


def tcp_passive_opens():
    """Tcp PassiveOpens from /proc/net/snmp (machine-wide count of accepted TCP connections)."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("PassiveOpens")])
    except (OSError, IndexError, ValueError):
        return None


def port_in_use(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_ready(proc, port, host, logfile, timeout=60.0, want=200, tls=False):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before ready; log:\n"
                               + tail(logfile))
        if tls:
            r = fetch(port, host, tls=True, timeout=0.5)
            status = r and r["status"]
        else:
            status = get_status(port, host, timeout=0.5)
        if status == want:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise RuntimeError(f"not ready (GET Host: {host} on :{port} != {want}) after {timeout}s; log:\n"
                       + tail(logfile))


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# Configurations

def temp_paths(d):
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    return "\n".join(f"  {k}_temp_path {d}/tmp/{k};" for k in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def nginx_user():
    return "user root root;" if os.geteuid() == 0 else ""


def backend_conf(d, port):
    return f"""# Backend for every proxy: a fixed 2-byte body. Pinned to core {LOAD_CORE}.
daemon off;
master_process on;
worker_processes 1;
{nginx_user()}
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{temp_paths(d)}
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      default_type text/plain;
      return 200 "{BODY}";
    }}
    # Only for the checks of scenario e (never under load): the path and the header received.
    location = {PROBE} {{
      default_type text/plain;
      return 200 "$uri|$http_x_bench_request";
    }}
    location = /api{PROBE} {{
      default_type text/plain;
      return 200 "$uri|$http_x_bench_request";
    }}
  }}
}}
"""


def nginx_proxy_conf(d, port, backend_port, tls=None):
    """tls: the certificate paths (dict with cert, key) for scenarios f/g, else plain HTTP.
    The upstream's idle pool holds a connection for every concurrent request: 64 for wrk's 50
    connections, 1024 for h2load's 50 x 10 streams (else nginx closes and reopens backend
    connections at every burst)."""
    listen = " ssl http2" if tls else ""
    idle = 1024 if tls else 64
    tls_conf = (f"""  ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22's default lacks TLS 1.3
  ssl_certificate {tls['cert']};
  ssl_certificate_key {tls['key']};
""" if tls else "")
    return f"""# nginx as the proxy under test: one worker, keep-alive upstream pool, Traefik-like
# forwarded headers (Traefik and Switchyard always add X-Forwarded-* and X-Real-Ip).
daemon off;
master_process on;
worker_processes 1;
{nginx_user()}
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{temp_paths(d)}
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive {idle};
    keepalive_requests 100000000;
  }}
{tls_conf}  server {{
    listen 127.0.0.1:{port}{listen} default_server backlog=4096;
    server_name _;
    return 404;
  }}
  server {{
    listen 127.0.0.1:{port}{listen};
    server_name {HOST};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Real-Ip $remote_addr;
    }}
  }}
}}
"""


def haproxy_conf(d, port, backend_port, tls=None):
    """tls: the certificate paths (dict with pem: certificate + key) for scenarios f/g."""
    bind = f"127.0.0.1:{port}" + (f" ssl crt {tls['pem']} alpn h2,http/1.1" if tls else "")
    return f"""# HAProxy as the proxy under test: one thread, server connections reused across clients.
global
  nbthread 1
  maxconn 4096
  pidfile {d}/haproxy.pid

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 300s

frontend web
  bind {bind}
  option forwardfor
  http-request set-header X-Forwarded-Proto {"https" if tls else "http"}
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Real-Ip %[src]
  http-request return status 404 unless {{ req.hdr(host) -i {HOST} }}
  default_backend bench

backend bench
  http-reuse always
  server s1 127.0.0.1:{backend_port}
"""


def traefik_static(port, dyn_dir, entry_point="web", idle_per_host=None, obs_dir=None):
    """idle_per_host (scenarios f/g): serversTransport.maxIdleConnsPerHost, raised from its
    default (200) to hold a connection for each of h2load's 500 concurrent streams.
    obs_dir (scenario h): a JSON access log in that directory and Prometheus metrics on entry
    point `metrics` (port + 1)."""
    transport = (f"serversTransport:\n  maxIdleConnsPerHost: {idle_per_host}\n"
                 if idle_per_host else "")
    extra_ep = ""
    if obs_dir:
        transport += (f"accessLog:\n  filePath: \"{os.path.join(obs_dir, 'access.json')}\"\n"
                      "  format: json\nmetrics:\n  prometheus:\n    entryPoint: metrics\n")
        extra_ep = f"  metrics:\n    address: \"127.0.0.1:{port + 1}\"\n"
    return f"""# Traefik v3 static configuration, read unchanged by Traefik and by Switchyard.
global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  {entry_point}:
    address: "127.0.0.1:{port}"
{extra_ep}providers:
  file:
    directory: "{dyn_dir}"
    watch: true
log:
  level: ERROR
{transport}"""


CHAIN_MIDDLEWARES = ["chain-headers", "chain-strip", "chain-redirect", "chain-ratelimit",
                     "chain-compress"]


def traefik_dynamic(backend_port, n_hosts=0, renamed=None, chain=False, tls=None):
    """The dynamic file: the bench.local router, plus n_hosts Host(`h<i>.bench`) routers.
    renamed: a host that replaces h0.bench's (the one-router change of the reload test).
    chain (scenario e): plus a chain.local router, identical but for its five middlewares.
    tls (scenarios f/g; dict with cert, key): the router is an HTTPS router on `websecure`, and
    the certificate is both in tls.certificates and the default store's default certificate (so
    that a client without SNI gets it too, not a generated one)."""
    ep = "websecure" if tls else "web"
    lines = ["http:", "  routers:",
             "    bench:",
             f"      entryPoints: [{ep}]",
             f"      rule: \"Host(`{HOST}`)\"",
             "      service: backend"]
    if tls:
        lines += ["      tls: {}"]
    if chain:
        lines += ["    chain:",
                  f"      entryPoints: [{ep}]",
                  f"      rule: \"Host(`{CHAIN_HOST}`)\"",
                  "      service: backend",
                  f"      middlewares: [{', '.join(CHAIN_MIDDLEWARES)}]"]
    for i in range(n_hosts):
        host = renamed if (i == 0 and renamed) else f"h{i}.bench"
        lines += [f"    h{i}:",
                  "      entryPoints: [web]",
                  f"      rule: \"Host(`{host}`)\"",
                  "      service: backend"]
    if chain:
        lines += ["  middlewares:",
                  "    chain-headers:",
                  "      headers:",
                  "        customRequestHeaders:",
                  "          X-Bench-Request: \"yes\"",
                  "        customResponseHeaders:",
                  "          X-Bench-Response: \"yes\"",
                  "    chain-strip:",
                  "      stripPrefix:",
                  "        prefixes: [\"/api\"]",
                  "    chain-redirect:  # the entry point is plain HTTP: nothing to redirect",
                  "      redirectScheme:",
                  "        scheme: http",
                  "        permanent: false",
                  "    chain-ratelimit:  # far above any load this machine can generate",
                  "      rateLimit:",
                  "        average: 10000000",
                  "        burst: 10000000",
                  "    chain-compress:  # the backend's 2-byte body is below minResponseBodyBytes",
                  "      compress: {}"]
    lines += ["  services:",
              "    backend:",
              "      loadBalancer:",
              "        servers:",
              f"          - url: \"http://127.0.0.1:{backend_port}\""]
    if tls:
        lines += ["tls:",
                  "  certificates:",
                  f"    - certFile: \"{tls['cert']}\"",
                  f"      keyFile: \"{tls['key']}\"",
                  "  stores:",
                  "    default:",
                  "      defaultCertificate:",
                  f"        certFile: \"{tls['cert']}\"",
                  f"        keyFile: \"{tls['key']}\""]
    return "\n".join(lines) + "\n"


def make_certificate(d):
    """One self-signed ECDSA P-256 certificate for bench.local (and 127.0.0.1), shared by every
    proxy of the run. Returns the paths: cert, key, and pem (both in one file, for HAProxy)."""
    os.makedirs(d, exist_ok=True)
    paths = {k: os.path.join(d, f) for k, f in
             (("cert", "cert.pem"), ("key", "key.pem"), ("pem", "cert+key.pem"))}
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", paths["key"], "-out", paths["cert"], "-days", "7",
           "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"openssl req failed: {p.stderr}")
    with open(paths["pem"], "w") as out:
        for k in ("cert", "key"):
            with open(paths[k]) as f:
                out.write(f.read())
    return paths


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_atomic(path, text, tmpdir):
    """Writes text to path by rename, as editors and config-management tools do; the temporary
    file lives outside the watched directory so no watcher sees a half-written file. Returns the
    monotonic time of the rename (the moment the new configuration exists)."""
    tmp = os.path.join(tmpdir, "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    t = time.monotonic()
    os.replace(tmp, path)
    return t


# --------------------------------------------------------------------------------------------
# Proxies

class Proxy:
    def __init__(self, name, port, args, rundir):
        self.name, self.port, self.args = name, port, args
        self.dir = os.path.join(rundir, name)
        self.dyn_dir = os.path.join(self.dir, "dynamic")
        self.proc = None
        self.logfile = os.path.join(self.dir, "proxy.log")
        os.makedirs(self.dir, exist_ok=True)

    def command(self, n_hosts, mode):
        """mode: "http" (scenarios a-d), "chain" (e: plus the chain.local router), "tls" (f, g),
        "obs" (h: access log and metrics on).
        Each mode writes its own configuration files (kept side by side in the run directory)."""
        d, a = self.dir, self.args
        tls = a.tls if mode == "tls" else None
        sfx = "" if mode == "http" else f"-{mode}"
        if self.name == "nginx":
            conf = os.path.join(d, f"nginx{sfx}.conf")
            write(conf, nginx_proxy_conf(d, self.port, a.backend_port, tls))
            return ["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf]
        if self.name == "haproxy":
            conf = os.path.join(d, f"haproxy{sfx}.cfg")
            write(conf, haproxy_conf(d, self.port, a.backend_port, tls))
            return ["haproxy", "-db", "-f", conf]
        static = os.path.join(d, f"traefik{sfx}.yml")
        self.dyn_dir = os.path.join(d, f"dynamic{sfx}")
        write(static, traefik_static(self.port, self.dyn_dir, "websecure" if tls else "web",
                                     1024 if tls else None,
                                     obs_dir=d if mode == "obs" else None))
        if os.path.isdir(self.dyn_dir):
            shutil.rmtree(self.dyn_dir)
        write(os.path.join(self.dyn_dir, "routes.yml"),
              traefik_dynamic(a.backend_port, n_hosts, chain=(mode == "chain"), tls=tls))
        binary = a.binary if self.name == "switchyard" else a.traefik
        return [binary, f"--configFile={static}"]

    def start(self, n_hosts=0, mode="http"):
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} already in use")
        cmd = ["taskset", "-c", PROXY_CORE] + self.command(n_hosts, mode)
        with open(self.logfile, "a") as f:
            f.write(f"\n=== {time.strftime('%F %T')} {' '.join(cmd)}\n")
        self.proc = spawn(cmd, self.logfile)
        took = wait_ready(self.proc, self.port, HOST, self.logfile, tls=(mode == "tls"))
        if n_hosts:  # make sure the big configuration is the one being served
            wait_ready(self.proc, self.port, f"h{n_hosts - 1}.bench", self.logfile)
        if mode == "chain":  # same file as bench.local's router: served together, or never
            wait_ready(self.proc, self.port, CHAIN_HOST, self.logfile, timeout=10.0)
        log(f"{self.name} ready on :{self.port} in {took:.2f}s ({n_hosts} extra routers"
            + ("" if mode == "http" else f", {mode}") + ")")

    def pids(self):
        return process_tree(self.proc.pid)

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


# --------------------------------------------------------------------------------------------
# wrk

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def parse_wrk(out):
    r = {"requests": None, "rps": None, "p50_ms": None, "p75_ms": None, "p90_ms": None,
         "p99_ms": None, "non2xx": 0, "err_connect": 0, "err_read": 0, "err_write": 0,
         "err_timeout": 0}
    if m := re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", out, re.M):
        r["requests"] = int(m.group(1))
        r["wrk_seconds"] = to_ms(m.group(2)) / 1e3
    if m := re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M):
        r["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s*{pct}%\s+([\d.]+\w+)", out, re.M):
            r[f"p{pct}_ms"] = to_ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out):
        r["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r["err_connect"], r["err_read"], r["err_write"], r["err_timeout"] = map(int, m.groups())
    r["errors"] = r["non2xx"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return r


def wrk_cmd(args, port, seconds, close=False, host=HOST, path="/", headers=()):
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s",
           "--latency", "-H", f"Host: {host}"]
    if close:
        cmd += ["-H", "Connection: close"]
    for h in headers:
        cmd += ["-H", h]
    return cmd + [f"http://127.0.0.1:{port}{path}"]


def h2load_cmd(args, port, seconds=None, requests=None):
    """Scenario f (seconds): HTTP/2 over TLS for that long, args.connections connections with
    H2_STREAMS streams each. Scenario g (requests): HTTP/1.1 over TLS, that many requests, one
    per connection (`Connection: close`: h2load opens a new connection, hence does a new TLS
    handshake, for each request). g gives a request count, not a duration: h2load 1.52's timed
    mode (-D) does not exit when the server closes the connections. The URL names bench.local,
    so SNI is bench.local; --connect-to sends the connections to 127.0.0.1; the :authority
    override makes the Host header `bench.local` (without the port)."""
    cmd = ["taskset", "-c", LOAD_CORE, "h2load", "-t1", f"-c{args.connections}",
           "-H", f":authority: {HOST}", f"--connect-to=127.0.0.1:{port}"]
    if requests:
        cmd += ["--h1", "-m1", f"-n{requests}", "-H", "Connection: close"]
    else:
        cmd += [f"-m{H2_STREAMS}", f"-D{seconds}"]
    return cmd + [f"https://{HOST}:{port}/"]


def g_requests(args, port):
    """Scenario g's request count: the rate of a short calibration run (50 requests per
    connection, also the warm-up) times --duration."""
    n = 50 * args.connections
    p = subprocess.run(h2load_cmd(args, port, requests=n), capture_output=True, text=True,
                       timeout=120)
    r = parse_h2load(p.stdout + p.stderr)
    if not r["rps"]:
        raise RuntimeError(f"h2load calibration run failed:\n{p.stdout}{p.stderr}")
    return max(10 * args.connections, int(r["rps"] * args.duration)), r["rps"]


def parse_h2load(out):
    r = {"requests": None, "rps": None, "p50_ms": None, "p99_ms": None, "mean_ms": None,
         "non2xx": 0, "failed": 0, "errored": 0, "timeout": 0, "alpn": None, "tls_protocol": None,
         "tls_cipher": None, "tls_temp_key": None}
    secs = None
    if m := re.search(r"^finished in ([\d.]+)(us|ms|s|m|h),", out, re.M):
        secs = to_ms(m.group(1) + m.group(2)) / 1e3
        r["h2load_seconds"] = secs
    if m := re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M):
        r["requests"] = int(m.group(3))
        r["failed"], r["errored"], r["timeout"] = (int(m.group(i)) for i in (5, 6, 7))
    if m := re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M):
        r["non2xx"] = sum(int(m.group(i)) for i in (2, 3, 4))
    if m := re.search(r"^time for request:\s+\S+\s+\S+\s+([\d.]+\w+)", out, re.M):
        r["mean_ms"] = to_ms(m.group(1))
    for key, label in (("alpn", "Application protocol"), ("tls_protocol", "TLS Protocol"),
                       ("tls_cipher", "Cipher"), ("tls_temp_key", "Server Temp Key")):
        if m := re.search(rf"^{label}: (.+)$", out, re.M):
            r[key] = m.group(1).strip()
    if r["requests"] and secs:
        r["rps"] = round(r["requests"] / secs, 1)
    # "failed" counts non-2xx answers and requests that got no answer; errored/timeout are
    # connections that broke.
    r["errors"] = r["failed"] + r["errored"] + r["timeout"]
    return r


def measure(proxy, args, seconds, close=False, during=None, cmd=None, parse=parse_wrk,
            tool="wrk", timeout=None):
    """One load run against proxy (wrk by default; else `cmd`, whose output `parse` reads);
    returns the load generator's numbers plus proxy CPU and RSS, and the machine's count of
    accepted TCP connections per request. `during`, if given, is called (in this thread) with
    the load process while it runs; its result is stored under 'during'. The load generator is
    killed after `timeout` seconds (default seconds + 30) and the run fails."""
    root = proxy.proc.pid
    pids = process_tree(root)
    rss_idle = rss_kib(pids)
    logfile = os.path.join(proxy.dir, f"{tool}.log")
    samples = []
    stop_sampling = threading.Event()

    def sampler():
        while not stop_sampling.wait(0.25):
            samples.append((time.monotonic(), rss_kib(process_tree(root))))

    opens0 = tcp_passive_opens()
    cpu0 = cpu_seconds(pids)
    t0 = time.monotonic()
    wrk = subprocess.Popen(cmd or wrk_cmd(args, proxy.port, seconds, close),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    _children.append(wrk)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    try:
        extra = during(wrk) if during else None
        out, _ = wrk.communicate(timeout=timeout or seconds + 30)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{tool} did not finish within {timeout or seconds + 30} s: "
                           + " ".join(wrk.args)) from None
    finally:
        stop(wrk)
        stop_sampling.set()
        th.join()
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(process_tree(root))
    opens1 = tcp_passive_opens()
    with open(logfile, "a") as f:
        f.write(f"\n=== {time.strftime('%F %T')} {' '.join(wrk.args)}\n{out}")
    r = parse(out)
    if not r["requests"]:
        raise RuntimeError(f"{tool} produced no result against {proxy.name}:\n{out}")
    if opens0 is not None and opens1 is not None:
        r["tcp_accepts"] = opens1 - opens0
        r["conns_per_req"] = round((opens1 - opens0) / r["requests"], 4)
    cpu = cpu1 - cpu0
    r["proxy_cpu_s"] = round(cpu, 3)
    r["proxy_core_util"] = round(cpu / wall, 3)
    r["cpu_s_per_100k"] = round(cpu / r["requests"] * 1e5, 4)
    r["rss_idle_kib"] = rss_idle
    late = [kib for t, kib in samples if t - t0 >= 0.5 * min(seconds, wall)]
    r["rss_load_max_kib"] = max(late or [s[1] for s in samples] or [rss_kib(process_tree(root))])
    r["rss_load_end_kib"] = (late or [r["rss_load_max_kib"]])[-1]
    if during:
        r["during"] = extra
    return r


def check_chain(proxy):
    """Scenario e, before any load: both routers answer 200 (no redirect) on the benchmark path;
    through the chain the backend sees the prefix stripped and the added request header, the
    client gets the added response header and an uncompressed body; without the chain, none of
    that. A curl transcript of the same requests is kept in the proxy's directory."""
    gz = ["Accept-Encoding: gzip"]
    problems = []
    for host, path, want_body in (
            (CHAIN_HOST, CHAIN_PATH, BODY), (HOST, CHAIN_PATH, BODY),
            (CHAIN_HOST, "/api" + PROBE, f"{PROBE}|yes"), (HOST, "/api" + PROBE, f"/api{PROBE}|")):
        r = fetch(proxy.port, host, path, headers=gz)
        chained = host == CHAIN_HOST
        if r is None:
            problems.append(f"{host}{path}: no answer")
            continue
        got = (r["status"], r["body"].decode("latin-1"), r["headers"].get("x-bench-response"),
               r["headers"].get("content-encoding"))
        want = (200, want_body, "yes" if chained else None, None)
        if got != want:
            problems.append(f"{host}{path}: got (status, body, X-Bench-Response, "
                            f"Content-Encoding) = {got}, want {want}")
    if shutil.which("curl"):
        with open(os.path.join(proxy.dir, "chain-check.txt"), "w") as f:
            for host, path in ((CHAIN_HOST, CHAIN_PATH), (CHAIN_HOST, "/api" + PROBE),
                               (HOST, CHAIN_PATH)):
                p = subprocess.run(["curl", "-sS", "-i", "--max-time", "5", "-H", f"Host: {host}",
                                    "-H", "Accept-Encoding: gzip",
                                    f"http://127.0.0.1:{proxy.port}{path}"],
                                   capture_output=True, text=True, errors="replace")
                f.write(f"$ curl -i -H 'Host: {host}' -H 'Accept-Encoding: gzip' "
                        f"http://127.0.0.1:{proxy.port}{path}\n{p.stdout}{p.stderr}\n\n")
    if problems:
        raise RuntimeError("middleware chain check failed: " + "; ".join(problems))
    log(f"  {proxy.name}: chain checked (200, prefix stripped, headers added, not compressed, "
        "not redirected)")


def check_observed(proxy):
    """Scenario h: the access log has lines and /metrics counted the requests (so the run really
    measured both sinks). Returns what was seen."""
    path = os.path.join(proxy.dir, "access.json")
    time.sleep(1.5)  # buffered writers
    lines = 0
    if os.path.exists(path):
        with open(path, "rb") as f:
            lines = sum(1 for _ in f)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port + 1, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode("utf-8", "replace")
    conn.close()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("traefik_entrypoint_requests_total{")
                  and 'entrypoint="web"' in line)
    if lines == 0 or counted == 0:
        raise RuntimeError(f"{proxy.name}: observability not active "
                           f"(access log lines {lines}, requests counted {counted})")
    os.remove(path)
    return {"access_log_lines": lines, "requests_counted": counted}


def probe_tls(proxy):
    """Scenarios f/g: the TLS version and cipher a client gets, and whether the proxy resumes
    a session (a second connection offering the first one's session or ticket), which decides
    whether scenario g's handshakes are full or resumed ones."""
    first = fetch(proxy.port, HOST, tls=True)
    if first is None or first["status"] != 200:
        raise RuntimeError(f"HTTPS GET through {proxy.name} failed: {first and first['status']}")
    again = fetch(proxy.port, HOST, tls=True, session=first["session"])
    info = {"version": first["version"], "cipher": first["cipher"],
            "resumes": bool(again and again["resumed"])}
    log(f"  {proxy.name}: {info['version']} {info['cipher']}, session resumption "
        + ("offered and accepted" if info["resumes"] else "not done"))
    return info


def reload_probe(proxy, args, n_hosts, wrk):
    """Called while wrk runs: rewrites the dynamic file `args.reloads` times (router h0 gets a
    new host each time) and measures, for each, the time from the rename to the first 200 for
    the new host, polling on fresh connections."""
    results = []
    path = os.path.join(proxy.dyn_dir, "routes.yml")
    time.sleep(1.0)
    for i in range(args.reloads):
        host = f"reload{i}-{int(time.time())}.bench"
        text = traefik_dynamic(args.backend_port, n_hosts, renamed=host)
        start = write_atomic(path, text, proxy.dir)
        applied, polls = None, 0
        while time.monotonic() - start < args.reload_timeout:
            polls += 1
            if get_status(proxy.port, host, timeout=1.0) == 200:
                applied = (time.monotonic() - start) * 1e3
                break
            time.sleep(0.001)
        results.append({"host": host, "applied_ms": None if applied is None else round(applied, 1),
                        "polls": polls, "under_load": wrk.poll() is None})
        log(f"  {proxy.name} reload {i + 1}/{args.reloads}: "
            + (f"{applied:.1f} ms" if applied is not None else "NOT APPLIED"))
        # Leave more than providersThrottleDuration (Traefik's default 2s) between changes.
        rest = args.reload_spacing - (time.monotonic() - start)
        if rest > 0 and i + 1 < args.reloads:
            time.sleep(rest)
    return results


# --------------------------------------------------------------------------------------------
# Orchestration

def versions(args, proxies):
    def run(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unavailable ({e})"
    def first(cmd):
        return " ".join((run(cmd).splitlines() or ["?"])[0].split())[:200]
    v = {"nginx": first(["nginx", "-v"]).replace("nginx version: ", ""),
         "haproxy": first(["haproxy", "-v"]),
         "wrk": first(["wrk", "--version"])}
    if set(args.scenarios) & {"f", "g"}:
        v["h2load"] = first(["h2load", "--version"])
        v["openssl"] = first(["openssl", "version"])
    if "traefik" in proxies:
        m = re.search(r"Version:\s*(\S+)", run([args.traefik, "version"]))
        v["traefik"] = m.group(1) if m else "?"
    if "switchyard" in proxies:
        v["switchyard"] = first([args.binary, "version"])
    return v


def machine():
    model = ""
    try:
        model = next((l.split(":", 1)[1].strip() for l in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if l.startswith("Model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "hostname": platform.node()}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    keys = ["rps", "p50_ms", "p99_ms", "cpu_s_per_100k", "proxy_core_util", "rss_idle_kib",
            "rss_load_max_kib", "errors", "requests"]
    keys += ["mean_ms", "conns_per_req"]
    last = {k: runs[-1][k] for k in ("alpn", "tls_protocol", "tls_cipher", "tls_temp_key")
            if runs[-1].get(k)}  # as h2load reported them
    return {k: med([r.get(k) for r in runs]) for k in keys} | last | {"n": len(runs)}


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="whole seconds per measured wrk/h2load "
                    "run (default 10)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up whole seconds before each proxy's "
                    "measured runs (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of scenarios a-c, e-g; medians are "
                    "reported, the proxy order rotates each round (default 3)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "switchyard"),
                    help="Switchyard binary (default target/release/switchyard)")
    ap.add_argument("--traefik", default=os.path.join(ROOT, ".venv", "bin", "traefik"),
                    help="Traefik binary (default .venv/bin/traefik, from bench/setup.sh)")
    ap.add_argument("--proxies", default=",".join(ALL_PROXIES),
                    help="comma-separated subset of " + ",".join(ALL_PROXIES))
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                    help="comma-separated subset of " + ",".join(ALL_SCENARIOS))
    ap.add_argument("--connections", type=int, default=50, help="wrk and h2load connections "
                    "(default 50)")
    ap.add_argument("--hosts", type=int, default=10000, help="host routers for c/d (default 10000)")
    ap.add_argument("--reloads", type=int, default=0, help="reloads in scenario d (default: as "
                    "many as fit in the run, at least 3)")
    ap.add_argument("--reload-spacing", type=float, default=2.5, help="seconds between reloads")
    ap.add_argument("--reload-timeout", type=float, default=10, help="give up on a reload after")
    ap.add_argument("--port-base", type=int, default=18100, help="backend port; proxies use the "
                    "next four (default 18100)")
    ap.add_argument("--out", default=OUT, help="output directory (default bench/out)")
    args = ap.parse_args()

    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    scenarios = set(s.strip() for s in args.scenarios.split(",") if s.strip())
    for p in proxies:
        if p not in ALL_PROXIES:
            ap.error(f"unknown proxy {p}")
    if args.duration < 1:
        ap.error("--duration is at least 1 (wrk takes whole seconds)")
    if not scenarios <= set(ALL_SCENARIOS):
        ap.error("scenarios are " + ", ".join(ALL_SCENARIOS))
    args.scenarios = sorted(scenarios)
    if "switchyard" in proxies and not os.access(args.binary, os.X_OK):
        ap.error(f"no Switchyard binary at {args.binary} (cargo build --release, or --binary PATH, "
                 "or --proxies without switchyard)")
    if "traefik" in proxies and not os.access(args.traefik, os.X_OK):
        ap.error(f"no Traefik binary at {args.traefik} (run bench/setup.sh)")
    tools = ["nginx", "wrk", "taskset"] + (["haproxy"] if "haproxy" in proxies else [])
    tools += ["h2load", "openssl"] if scenarios & {"f", "g"} else []
    for tool in tools:
        if not shutil.which(tool):
            ap.error(f"{tool} not found (run bench/setup.sh)")
    if not args.reloads:
        args.reloads = max(3, int((args.duration - 2) // args.reload_spacing) + 1)
    args.binary = os.path.abspath(args.binary)
    args.traefik = os.path.abspath(args.traefik)
    args.backend_port = args.port_base

    # This script, wrk, the backend and the reload poller share core 1; the proxy owns core 0.
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    rundir = os.path.join(os.path.abspath(args.out), f"run-{stamp}")
    os.makedirs(rundir, exist_ok=True)
    log(f"working directory {rundir}")

    # Backend.
    bdir = os.path.join(rundir, "backend")
    os.makedirs(bdir, exist_ok=True)
    if port_in_use(args.backend_port):
        sys.exit(f"port {args.backend_port} already in use")
    write(os.path.join(bdir, "nginx.conf"), backend_conf(bdir, args.backend_port))
    backend = spawn(["taskset", "-c", LOAD_CORE, "nginx", "-p", bdir, "-e",
                     os.path.join(bdir, "error.log"), "-c", os.path.join(bdir, "nginx.conf")],
                    os.path.join(bdir, "backend.log"))
    wait_ready(backend, args.backend_port, HOST, os.path.join(bdir, "backend.log"))

    args.tls = make_certificate(os.path.join(rundir, "tls")) if scenarios & {"f", "g"} else None

    ports = {name: args.port_base + 1 + i for i, name in enumerate(ALL_PROXIES)}
    px = {name: Proxy(name, ports[name], args, rundir) for name in proxies}
    result = {"started": stamp, "machine": machine(), "versions": versions(args, proxies),
              "params": {"duration_s": args.duration, "warmup_s": args.warmup,
                         "repeat": args.repeat, "connections": args.connections,
                         "wrk_threads": 1, "hosts": args.hosts, "reloads": args.reloads,
                         "h2_streams": H2_STREAMS,
                         "proxy_core": PROXY_CORE, "load_core": LOAD_CORE,
                         "binary": args.binary, "proxies": proxies,
                         "scenarios": sorted(scenarios)},
              "runs": [], "failures": [], "tls_probe": {}}
    log(f"versions: {result['versions']}")

    def record(proxy, scenario, rnd, r):
        r.update(proxy=proxy, scenario=scenario, round=rnd)
        result["runs"].append(r)
        lat = (f"p50 {fmt(r['p50_ms'], '{:.3f}')} ms  p99 {fmt(r['p99_ms'], '{:.3f}')} ms"
               if r.get("p99_ms") is not None else f"mean {fmt(r.get('mean_ms'), '{:.3f}')} ms")
        log(f"  {proxy:10} {scenario}: {fmt(r['rps'], '{:>9.0f}')} req/s  {lat}  "
            f"cpu {r['cpu_s_per_100k']:.3f} s/100k  "
            f"core {r['proxy_core_util'] * 100:.0f}%  rss {r['rss_load_max_kib'] / 1024:.1f} MiB"
            f"  conns/req {fmt(r.get('conns_per_req'), '{:.2f}')}  errors {r['errors']}")

    def attempt(name, scenario, fn):
        try:
            fn()
        except Exception as e:  # record, keep going with the other proxies
            log(f"FAILED {name} {scenario}: {e}")
            result["failures"].append({"proxy": name, "scenario": scenario, "error": str(e)})
        finally:
            px[name].stop()

    for rnd in range(args.repeat if scenarios - {"d"} else 0):
        order = proxies[rnd % len(proxies):] + proxies[:rnd % len(proxies)]
        log(f"round {rnd + 1}/{args.repeat}: {', '.join(order)}")
        for name in order:
            p = px[name]
            if scenarios & {"a", "b"}:
                def ab():
                    p.start()
                    if args.warmup > 0:
                        subprocess.run(wrk_cmd(args, p.port, args.warmup), capture_output=True)
                    if "a" in scenarios:
                        record(name, "a", rnd, measure(p, args, args.duration))
                    if "b" in scenarios:
                        record(name, "b", rnd, measure(p, args, args.duration, close=True))
                attempt(name, "a/b", ab)
            if "c" in scenarios and name in TRAEFIK_FORMAT:
                def c():
                    p.start(n_hosts=args.hosts)
                    if args.warmup > 0:
                        subprocess.run(wrk_cmd(args, p.port, args.warmup), capture_output=True)
                    record(name, "c", rnd, measure(p, args, args.duration))
                attempt(name, "c", c)
            if "e" in scenarios and name in TRAEFIK_FORMAT:
                def e():
                    p.start(mode="chain")
                    check_chain(p)
                    gz = ["Accept-Encoding: gzip"]
                    # Plain router first in even rounds, chained router first in odd ones.
                    variants = [("e-plain", HOST), ("e-chain", CHAIN_HOST)][::1 - 2 * (rnd % 2)]
                    if args.warmup > 0:
                        for _, host in variants:
                            subprocess.run(wrk_cmd(args, p.port, args.warmup, host=host,
                                                   path=CHAIN_PATH, headers=gz),
                                           capture_output=True)
                    for label, host in variants:
                        record(name, label, rnd, measure(
                            p, args, args.duration,
                            cmd=wrk_cmd(args, p.port, args.duration, host=host, path=CHAIN_PATH,
                                        headers=gz)))
                attempt(name, "e", e)
            if "h" in scenarios and name in TRAEFIK_FORMAT:
                def h():
                    # Plain first in even rounds, observed first in odd ones.
                    for mode in ["http", "obs"][::1 - 2 * (rnd % 2)]:
                        p.start(mode=mode)
                        if args.warmup > 0:
                            subprocess.run(wrk_cmd(args, p.port, args.warmup), capture_output=True)
                        r = measure(p, args, args.duration)
                        if mode == "obs":
                            r["obs_check"] = check_observed(p)
                        p.stop()
                        record(name, "h-plain" if mode == "http" else "h-obs", rnd, r)
                attempt(name, "h", h)
            if scenarios & {"f", "g"}:
                def fg():
                    p.start(mode="tls")
                    result["tls_probe"][name] = probe_tls(p)
                    if args.warmup > 0:
                        subprocess.run(h2load_cmd(args, p.port, args.warmup),
                                       capture_output=True, timeout=args.warmup + 60)
                    if "f" in scenarios:
                        r = measure(p, args, args.duration, parse=parse_h2load, tool="h2load",
                                    cmd=h2load_cmd(args, p.port, args.duration))
                        if r["alpn"] != "h2":
                            raise RuntimeError(f"h2load negotiated {r['alpn']!r}, not h2")
                        record(name, "f", rnd, r)
                    if "g" in scenarios:
                        n, rate = g_requests(args, p.port)
                        log(f"  {name} g: calibration {rate:.0f} req/s -> {n} requests")
                        r = measure(p, args, args.duration, parse=parse_h2load, tool="h2load",
                                    cmd=h2load_cmd(args, p.port, requests=n),
                                    timeout=4 * args.duration + 30)
                        r["tls_resumes"] = result["tls_probe"][name]["resumes"]
                        record(name, "g", rnd, r)
                attempt(name, "f/g", fg)

    if "d" in scenarios:
        seconds = max(args.duration, math.ceil(1.0 + args.reloads * args.reload_spacing + 1.0))
        for name in [n for n in proxies if n in TRAEFIK_FORMAT]:
            p = px[name]

            def d():
                p.start(n_hosts=args.hosts)
                log(f"{name}: {args.reloads} reloads of a {args.hosts}-router file under load")
                record(name, "d", 0, measure(p, args, seconds,
                                             during=lambda wrk: reload_probe(p, args, args.hosts, wrk)))
            attempt(name, "d", d)

    stop(backend)
    result["summary"] = {}
    for s in ("a", "b", "c", "d", "e-plain", "e-chain", "f", "g", "h-plain", "h-obs"):
        for name in proxies:
            runs = [r for r in result["runs"] if r["proxy"] == name and r["scenario"] == s]
            if runs:
                result["summary"].setdefault(s, {})[name] = summarize(runs)
                if s == "d":
                    ms = [x["applied_ms"] for x in runs[0]["during"]]
                    ok = [x for x in ms if x is not None]
                    result["summary"][s][name] |= {
                        "reload_ms": ms, "reload_median_ms": med(ok),
                        "reload_max_ms": max(ok) if ok else None,
                        "reloads_not_applied": len(ms) - len(ok),
                        "reloads_after_load_ended": sum(not x["under_load"]
                                                        for x in runs[0]["during"]),
                        "non2xx": runs[0]["non2xx"],
                        "socket_errors": runs[0]["errors"] - runs[0]["non2xx"]}
    for name in proxies:  # scenario e: chain / plain, per round (same process, same round)
        plain = {r["round"]: r for r in result["runs"]
                 if r["proxy"] == name and r["scenario"] == "e-plain"}
        chain = {r["round"]: r for r in result["runs"]
                 if r["proxy"] == name and r["scenario"] == "e-chain"}
        ratios = [round(chain[k]["cpu_s_per_100k"] / plain[k]["cpu_s_per_100k"], 3)
                  for k in sorted(plain) if k in chain and plain[k]["cpu_s_per_100k"]]
        if ratios:
            result["summary"].setdefault("e", {})[name] = {
                "cpu_ratio_rounds": ratios, "cpu_ratio": med(ratios),
                "plain": result["summary"]["e-plain"][name],
                "chain": result["summary"]["e-chain"][name]}
    for name in proxies:  # scenario h: observed / plain, per round (two processes, same round)
        plain = {r["round"]: r for r in result["runs"]
                 if r["proxy"] == name and r["scenario"] == "h-plain"}
        obs = {r["round"]: r for r in result["runs"]
               if r["proxy"] == name and r["scenario"] == "h-obs"}
        ratios = [round(obs[k]["cpu_s_per_100k"] / plain[k]["cpu_s_per_100k"], 3)
                  for k in sorted(plain) if k in obs and plain[k]["cpu_s_per_100k"]]
        if ratios:
            result["summary"].setdefault("h", {})[name] = {
                "cpu_ratio_rounds": ratios, "cpu_ratio": med(ratios),
                "plain": result["summary"]["h-plain"][name],
                "obs": result["summary"]["h-obs"][name],
                "checks": [obs[k].get("obs_check") for k in sorted(obs)]}
    result["finished"] = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    md = report(result)
    result["markdown"] = md
    path = os.path.join(os.path.abspath(args.out), f"results-{stamp}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    with open(path[:-5] + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"results: {path} (and .md); logs and configs: {rundir}")
    return 1 if result["failures"] else 0


# --------------------------------------------------------------------------------------------
# Report

def fmt(v, spec="{:.0f}", none="–"):
    return none if v is None else spec.format(v)


def ratio(a, b):
    return None if (a is None or not b) else a / b


def tls_desc(r):
    """'TLSv1.3 TLS_AES_128_GCM_SHA256 X25519' from h2load's output."""
    parts = [r.get("tls_protocol"), r.get("tls_cipher"),
             (r.get("tls_temp_key") or "").split(" ")[0] or None]
    return " ".join(p for p in parts if p) or "–"


def report(res):
    S = res["summary"]
    m, prm = res["machine"], res["params"]
    out = [f"Run {res['started']} on {m['nproc']} CPUs ({m['cpu_model']}), kernel {m['kernel']}. "
           f"Proxy pinned to core {prm['proxy_core']}; wrk, backend (nginx `return 200`) and "
           f"harness on core {prm['load_core']}. wrk -t1 -c{prm['connections']}, "
           f"{prm['duration_s']} s per run, medians of {prm['repeat']} rounds.",
           "",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()), ""]
    titles = {"a": "(a) HTTP/1.1 keep-alive", "b": "(b) new connection per request "
              "(`Connection: close`)"}
    for s in ("a", "b"):
        if s not in S:
            continue
        rows = S[s]
        ng, tr = rows.get("nginx", {}), rows.get("traefik", {})
        out += [f"### {titles[s]}", "",
                "| Proxy | req/s | p50 ms | p99 ms | CPU-s / 100k req | proxy core busy | "
                "RSS idle MiB | RSS load MiB | errors | CPU/req vs nginx | p99 vs nginx | "
                "req/s vs Traefik | CPU/req vs Traefik |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in rows.items():
            out.append("| " + " | ".join([
                name, fmt(r["rps"]), fmt(r["p50_ms"], "{:.3f}"), fmt(r["p99_ms"], "{:.3f}"),
                fmt(r["cpu_s_per_100k"], "{:.3f}"), fmt(r["proxy_core_util"] and
                                                        r["proxy_core_util"] * 100, "{:.0f}%"),
                fmt(r["rss_idle_kib"] and r["rss_idle_kib"] / 1024, "{:.1f}"),
                fmt(r["rss_load_max_kib"] and r["rss_load_max_kib"] / 1024, "{:.1f}"),
                fmt(r["errors"]),
                fmt(ratio(r["cpu_s_per_100k"], ng.get("cpu_s_per_100k")), "{:.2f}×"),
                fmt(ratio(r["p99_ms"], ng.get("p99_ms")), "{:.2f}×"),
                fmt(ratio(r["rps"], tr.get("rps")), "{:.2f}×"),
                fmt(ratio(r["cpu_s_per_100k"], tr.get("cpu_s_per_100k")), "{:.2f}×")]) + " |")
        out.append("")
    if "c" in S:
        k = f"{prm['hosts'] // 1000}k" if prm["hosts"] % 1000 == 0 else str(prm["hosts"])
        out += [f"### (c) {prm['hosts']} host routers vs 1 (keep-alive)", "",
                f"| Proxy | req/s, 1 router | req/s, {k} routers | throughput ratio | "
                f"CPU-s/100k, 1 | CPU-s/100k, {k} | p99 ms, {k} | RSS load MiB, {k} |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in S["c"].items():
            one = S.get("a", {}).get(name, {})
            out.append("| " + " | ".join([
                name, fmt(one.get("rps")), fmt(r["rps"]), fmt(ratio(r["rps"], one.get("rps")),
                                                              "{:.3f}"),
                fmt(one.get("cpu_s_per_100k"), "{:.3f}"), fmt(r["cpu_s_per_100k"], "{:.3f}"),
                fmt(r["p99_ms"], "{:.3f}"),
                fmt(r["rss_load_max_kib"] and r["rss_load_max_kib"] / 1024, "{:.1f}")]) + " |")
        out.append("")
    if "d" in S:
        out += [f"### (d) reload of a {prm['hosts']}-router file under keep-alive load", "",
                "| Proxy | reloads | applied in, median ms | max ms | all applied (ms) | "
                "non-2xx | socket errors | req/s during |",
                "|---|---:|---:|---:|---|---:|---:|---:|"]
        for name, r in S["d"].items():
            out.append("| " + " | ".join([
                name, str(len(r["reload_ms"])), fmt(r["reload_median_ms"], "{:.1f}"),
                fmt(r["reload_max_ms"], "{:.1f}"),
                ", ".join(fmt(x, "{:.0f}", "not applied") for x in r["reload_ms"]),
                str(r["non2xx"]), str(r["socket_errors"]), fmt(r["rps"])]) + " |")
        for name, r in S["d"].items():
            if r["reloads_after_load_ended"]:
                out.append(f"\n{name}: {r['reloads_after_load_ended']} reload(s) applied after wrk "
                           "had finished (raise --duration).")
        out.append("")
    if "e" in S:
        out += ["### (e) middleware chain (headers, stripPrefix, redirectScheme, rateLimit, "
                "compress) vs none, keep-alive", "",
                "| Proxy | req/s, none | req/s, chain | CPU-s/100k, none | CPU-s/100k, chain | "
                "CPU/req chain ÷ none | per round | p99 ms, none | p99 ms, chain | "
                "RSS load MiB, chain | errors |",
                "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
        for name, r in S["e"].items():
            pl, ch = r["plain"], r["chain"]
            out.append("| " + " | ".join([
                name, fmt(pl["rps"]), fmt(ch["rps"]), fmt(pl["cpu_s_per_100k"], "{:.3f}"),
                fmt(ch["cpu_s_per_100k"], "{:.3f}"), fmt(r["cpu_ratio"], "{:.2f}×"),
                ", ".join(f"{x:.2f}" for x in r["cpu_ratio_rounds"]),
                fmt(pl["p99_ms"], "{:.3f}"), fmt(ch["p99_ms"], "{:.3f}"),
                fmt(ch["rss_load_max_kib"] and ch["rss_load_max_kib"] / 1024, "{:.1f}"),
                fmt((pl["errors"] or 0) + (ch["errors"] or 0))]) + " |")
        out.append("")
    if "h" in S:
        out += ["### (h) JSON access log to a file + Prometheus metrics vs neither, keep-alive", "",
                "| Proxy | req/s, off | req/s, on | CPU-s/100k, off | CPU-s/100k, on | "
                "CPU/req on ÷ off | per round | p99 ms, off | p99 ms, on | RSS load MiB, on | "
                "log lines / requests counted |",
                "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
        for name, r in S["h"].items():
            pl, ob = r["plain"], r["obs"]
            chk = "; ".join(f"{c['access_log_lines']} / {c['requests_counted']:.0f}"
                            for c in r["checks"] if c)
            out.append("| " + " | ".join([
                name, fmt(pl["rps"]), fmt(ob["rps"]), fmt(pl["cpu_s_per_100k"], "{:.3f}"),
                fmt(ob["cpu_s_per_100k"], "{:.3f}"), fmt(r["cpu_ratio"], "{:.2f}×"),
                ", ".join(f"{x:.2f}" for x in r["cpu_ratio_rounds"]),
                fmt(pl["p99_ms"], "{:.3f}"), fmt(ob["p99_ms"], "{:.3f}"),
                fmt(ob["rss_load_max_kib"] and ob["rss_load_max_kib"] / 1024, "{:.1f}"),
                chk]) + " |")
        out.append("")
    probes = res.get("tls_probe", {})
    if "f" in S:
        rows = S["f"]
        hp, ng, tr = (rows.get(n, {}) for n in ("haproxy", "nginx", "traefik"))
        out += [f"### (f) HTTPS, HTTP/2 termination (h2load -c{prm['connections']} "
                f"-m{prm.get('h2_streams', H2_STREAMS)})", "",
                "| Proxy | req/s | mean ms | CPU-s / 100k req | proxy core busy | RSS idle MiB | "
                "RSS load MiB | errors | CPU/req vs HAProxy | CPU/req vs nginx | "
                "req/s vs Traefik | TLS (h2load) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name, r in rows.items():
            out.append("| " + " | ".join([
                name, fmt(r["rps"]), fmt(r["mean_ms"], "{:.3f}"),
                fmt(r["cpu_s_per_100k"], "{:.3f}"),
                fmt(r["proxy_core_util"] and r["proxy_core_util"] * 100, "{:.0f}%"),
                fmt(r["rss_idle_kib"] and r["rss_idle_kib"] / 1024, "{:.1f}"),
                fmt(r["rss_load_max_kib"] and r["rss_load_max_kib"] / 1024, "{:.1f}"),
                fmt(r["errors"]),
                fmt(ratio(r["cpu_s_per_100k"], hp.get("cpu_s_per_100k")), "{:.2f}×"),
                fmt(ratio(r["cpu_s_per_100k"], ng.get("cpu_s_per_100k")), "{:.2f}×"),
                fmt(ratio(r["rps"], tr.get("rps")), "{:.2f}×"), tls_desc(r)]) + " |")
        out.append("")
    if "g" in S:
        rows = S["g"]
        ng = rows.get("nginx", {})
        out += [f"### (g) a new TLS connection per request (h2load --h1 -c{prm['connections']} "
                "-m1, `Connection: close`)", "",
                "| Proxy | handshakes/s | handshakes/s per proxy core | CPU µs / handshake | "
                "proxy core busy | mean ms | TCP accepts / req | TLS (h2load) | resumed | "
                "RSS load MiB | errors | per core vs nginx |",
                "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"]
        for name, r in rows.items():
            per_core = ratio(1e5, r["cpu_s_per_100k"])
            pr = probes.get(name, {})
            out.append("| " + " | ".join([
                name, fmt(r["rps"]), fmt(per_core), fmt(r["cpu_s_per_100k"] and
                                                         r["cpu_s_per_100k"] * 10, "{:.1f}"),
                fmt(r["proxy_core_util"] and r["proxy_core_util"] * 100, "{:.0f}%"),
                fmt(r["mean_ms"], "{:.3f}"), fmt(r["conns_per_req"], "{:.2f}"),
                tls_desc(r), {True: "yes", False: "no"}.get(pr.get("resumes"), "–"),
                fmt(r["rss_load_max_kib"] and r["rss_load_max_kib"] / 1024, "{:.1f}"),
                fmt(r["errors"]),
                fmt(ratio(per_core, ratio(1e5, ng.get("cpu_s_per_100k"))), "{:.2f}×")]) + " |")
        out.append("")
    out += targets(res)
    if res["failures"]:
        out += ["", "Failures:", ""] + [f"- {f['proxy']} {f['scenario']}: "
                                        f"{f['error'].splitlines()[0]}" for f in res["failures"]]
    return "\n".join(out) + "\n"


def targets(res):
    S = res["summary"]
    a = S.get("a", {})
    sy, ng = a.get("switchyard"), a.get("nginx")
    lines = ["### Targets (Switchyard)", "", "| Target | Measured | Met |", "|---|---|---|"]

    def row(what, measured, ok):
        lines.append(f"| {what} | {measured} | {'–' if ok is None else ('yes' if ok else 'NO')} |")

    if sy and ng:
        for s in ("a", "b"):
            if s in S and "switchyard" in S[s] and "nginx" in S[s]:
                r = ratio(S[s]["switchyard"]["cpu_s_per_100k"], S[s]["nginx"]["cpu_s_per_100k"])
                row(f"CPU per request ≤ 0.95× nginx ({s})", fmt(r, "{:.2f}×"),
                    None if r is None else r <= 0.95)
                r = ratio(S[s]["switchyard"]["p99_ms"], S[s]["nginx"]["p99_ms"])
                row(f"p99 ≤ nginx ({s})", fmt(r, "{:.2f}×"), None if r is None else r <= 1.0)
    for s in ("a", "b"):
        r = S.get(s, {}).get("switchyard")
        if r:
            mib = r["rss_load_max_kib"] / 1024
            row(f"RSS under load ≤ 20 MiB ({s})", f"{mib:.1f} MiB", mib <= 20)
    c = S.get("c", {}).get("switchyard")
    if c and sy:
        r = ratio(c["rps"], sy["rps"])
        row(f"{res['params']['hosts']} host routers cost ≤ 10% throughput", fmt(r, "{:.3f}× of 1-router req/s"),
            None if r is None else r >= 0.90)
    d = S.get("d", {}).get("switchyard")
    if d:
        mx = d["reload_max_ms"]
        row(f"{res['params']['hosts']}-router config applies in < 100 ms", f"median {fmt(d['reload_median_ms'], '{:.1f}')}"
            f" ms, max {fmt(mx, '{:.1f}')} ms", None if mx is None else
            (mx < 100 and d["reloads_not_applied"] == 0))
        bad = d["non2xx"] + d["socket_errors"]
        row("no failed requests during reloads", f"{d['non2xx']} non-2xx, "
            f"{d['socket_errors']} socket errors", bad == 0)
    e = S.get("e", {}).get("switchyard")
    if e:
        r = e["cpu_ratio"]
        row("middleware chain costs ≤ 1.25× CPU per request (e)", fmt(r, "{:.2f}×")
            + (f" (Traefik {S['e']['traefik']['cpu_ratio']:.2f}×)" if "traefik" in S["e"] else ""),
            None if r is None else r <= 1.25)
    h = S.get("h", {}).get("switchyard")
    if h:
        r = h["cpu_ratio"]
        row("access log + metrics cost ≤ 1.3× CPU per request (h)", fmt(r, "{:.2f}×")
            + (f" (Traefik {S['h']['traefik']['cpu_ratio']:.2f}×)" if "traefik" in S["h"] else ""),
            None if r is None else r <= 1.3)
    f = S.get("f", {})
    if "switchyard" in f and "haproxy" in f:
        r = ratio(f["switchyard"]["cpu_s_per_100k"], f["haproxy"]["cpu_s_per_100k"])
        row("CPU per request ≤ 0.85× HAProxy (f)", fmt(r, "{:.2f}×"),
            None if r is None else r <= 0.85)
    if "switchyard" in f:
        mib = f["switchyard"]["rss_load_max_kib"] / 1024
        row("RSS under load ≤ 25 MiB (f)", f"{mib:.1f} MiB", mib <= 25)
    g = S.get("g", {})
    if "switchyard" in g and "nginx" in g:
        r = ratio(g["nginx"]["cpu_s_per_100k"], g["switchyard"]["cpu_s_per_100k"])
        row("handshakes/s per core ≥ nginx (g)", fmt(r, "{:.2f}× nginx's"),
            None if r is None else r >= 1.0)
    return lines


if __name__ == "__main__":
    sys.exit(main())
