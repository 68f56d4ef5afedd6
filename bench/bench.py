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

Per run: requests/s, p50/p99 latency (wrk --latency), proxy CPU-seconds per 100k requests
(utime+stime of the proxy's process tree from /proc/<pid>/stat, before and after the run) and
proxy RSS (sum of VmRSS of the proxy's processes, sampled during the run; idle = before load).

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
TRAEFIK_FORMAT = ["switchyard", "traefik"]  # proxies that read the Traefik configuration files
BODY = "ok"


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


def port_in_use(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_ready(proc, port, host, logfile, timeout=60.0, want=200):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before ready; log:\n"
                               + tail(logfile))
        if get_status(port, host, timeout=0.5) == want:
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
  }}
}}
"""


def nginx_proxy_conf(d, port, backend_port):
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
    keepalive 64;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} default_server backlog=4096;
    server_name _;
    return 404;
  }}
  server {{
    listen 127.0.0.1:{port};
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


def haproxy_conf(d, port, backend_port):
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
  bind 127.0.0.1:{port}
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Real-Ip %[src]
  http-request return status 404 unless {{ req.hdr(host) -i {HOST} }}
  default_backend bench

backend bench
  http-reuse always
  server s1 127.0.0.1:{backend_port}
"""


def traefik_static(port, dyn_dir):
    return f"""# Traefik v3 static configuration, read unchanged by Traefik and by Switchyard.
global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:{port}"
providers:
  file:
    directory: "{dyn_dir}"
    watch: true
log:
  level: ERROR
"""


def traefik_dynamic(backend_port, n_hosts=0, renamed=None):
    """The dynamic file: the bench.local router, plus n_hosts Host(`h<i>.bench`) routers.
    renamed: a host that replaces h0.bench's (the one-router change of the reload test)."""
    lines = ["http:", "  routers:",
             "    bench:",
             "      entryPoints: [web]",
             f"      rule: \"Host(`{HOST}`)\"",
             "      service: backend"]
    for i in range(n_hosts):
        host = renamed if (i == 0 and renamed) else f"h{i}.bench"
        lines += [f"    h{i}:",
                  "      entryPoints: [web]",
                  f"      rule: \"Host(`{host}`)\"",
                  "      service: backend"]
    lines += ["  services:",
              "    backend:",
              "      loadBalancer:",
              "        servers:",
              f"          - url: \"http://127.0.0.1:{backend_port}\""]
    return "\n".join(lines) + "\n"


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

    def command(self, n_hosts):
        d, a = self.dir, self.args
        if self.name == "nginx":
            conf = os.path.join(d, "nginx.conf")
            write(conf, nginx_proxy_conf(d, self.port, a.backend_port))
            return ["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf]
        if self.name == "haproxy":
            conf = os.path.join(d, "haproxy.cfg")
            write(conf, haproxy_conf(d, self.port, a.backend_port))
            return ["haproxy", "-db", "-f", conf]
        static = os.path.join(d, "traefik.yml")
        write(static, traefik_static(self.port, self.dyn_dir))
        if os.path.isdir(self.dyn_dir):
            shutil.rmtree(self.dyn_dir)
        write(os.path.join(self.dyn_dir, "routes.yml"), traefik_dynamic(a.backend_port, n_hosts))
        binary = a.binary if self.name == "switchyard" else a.traefik
        return [binary, f"--configFile={static}"]

    def start(self, n_hosts=0):
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} already in use")
        cmd = ["taskset", "-c", PROXY_CORE] + self.command(n_hosts)
        with open(self.logfile, "a") as f:
            f.write(f"\n=== {time.strftime('%F %T')} {' '.join(cmd)}\n")
        self.proc = spawn(cmd, self.logfile)
        took = wait_ready(self.proc, self.port, HOST, self.logfile)
        if n_hosts:  # make sure the big configuration is the one being served
            wait_ready(self.proc, self.port, f"h{n_hosts - 1}.bench", self.logfile)
        log(f"{self.name} ready on :{self.port} in {took:.2f}s ({n_hosts} extra routers)")

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


def wrk_cmd(args, port, seconds, close=False):
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s",
           "--latency", "-H", f"Host: {HOST}"]
    if close:
        cmd += ["-H", "Connection: close"]
    return cmd + [f"http://127.0.0.1:{port}/"]


def measure(proxy, args, seconds, close=False, during=None):
    """One wrk run against proxy; returns wrk's numbers plus proxy CPU and RSS. `during`, if
    given, is called (in this thread) with the wrk process while it runs; its result is stored
    under 'during'."""
    pids = proxy.pids()
    rss_idle = rss_kib(pids)
    logfile = os.path.join(proxy.dir, "wrk.log")
    samples = []
    stop_sampling = threading.Event()

    def sampler():
        while not stop_sampling.wait(0.25):
            samples.append((time.monotonic(), rss_kib(proxy.pids())))

    cpu0 = cpu_seconds(pids)
    t0 = time.monotonic()
    wrk = subprocess.Popen(wrk_cmd(args, proxy.port, seconds, close), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _children.append(wrk)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    extra = during(wrk) if during else None
    try:
        out, _ = wrk.communicate(timeout=seconds + 30)
    finally:
        stop(wrk)
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(proxy.pids())
    stop_sampling.set()
    th.join()
    with open(logfile, "a") as f:
        f.write(f"\n=== {time.strftime('%F %T')} {' '.join(wrk.args)}\n{out}")
    r = parse_wrk(out)
    if not r["requests"]:
        raise RuntimeError(f"wrk produced no result against {proxy.name}:\n{out}")
    cpu = cpu1 - cpu0
    r["proxy_cpu_s"] = round(cpu, 3)
    r["proxy_core_util"] = round(cpu / wall, 3)
    r["cpu_s_per_100k"] = round(cpu / r["requests"] * 1e5, 4)
    r["rss_idle_kib"] = rss_idle
    late = [kib for t, kib in samples if t - t0 >= 0.5 * seconds]
    r["rss_load_max_kib"] = max(late or [s[1] for s in samples] or [rss_kib(proxy.pids())])
    r["rss_load_end_kib"] = (late or [r["rss_load_max_kib"]])[-1]
    if during:
        r["during"] = extra
    return r


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
    return {k: med([r.get(k) for r in runs]) for k in keys} | {"n": len(runs)}


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="whole seconds per wrk run (default 10)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up whole seconds before each proxy's "
                    "measured runs (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of scenarios a-c; medians are "
                    "reported, the proxy order rotates each round (default 3)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "switchyard"),
                    help="Switchyard binary (default target/release/switchyard)")
    ap.add_argument("--traefik", default=os.path.join(ROOT, ".venv", "bin", "traefik"),
                    help="Traefik binary (default .venv/bin/traefik, from bench/setup.sh)")
    ap.add_argument("--proxies", default=",".join(ALL_PROXIES),
                    help="comma-separated subset of " + ",".join(ALL_PROXIES))
    ap.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
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
    if not scenarios <= {"a", "b", "c", "d"}:
        ap.error("scenarios are a, b, c, d")
    if "switchyard" in proxies and not os.access(args.binary, os.X_OK):
        ap.error(f"no Switchyard binary at {args.binary} (cargo build --release, or --binary PATH, "
                 "or --proxies without switchyard)")
    if "traefik" in proxies and not os.access(args.traefik, os.X_OK):
        ap.error(f"no Traefik binary at {args.traefik} (run bench/setup.sh)")
    for tool in ("nginx", "wrk", "taskset") + (("haproxy",) if "haproxy" in proxies else ()):
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

    ports = {name: args.port_base + 1 + i for i, name in enumerate(ALL_PROXIES)}
    px = {name: Proxy(name, ports[name], args, rundir) for name in proxies}
    result = {"started": stamp, "machine": machine(), "versions": versions(args, proxies),
              "params": {"duration_s": args.duration, "warmup_s": args.warmup,
                         "repeat": args.repeat, "connections": args.connections,
                         "wrk_threads": 1, "hosts": args.hosts, "reloads": args.reloads,
                         "proxy_core": PROXY_CORE, "load_core": LOAD_CORE,
                         "binary": args.binary, "proxies": proxies,
                         "scenarios": sorted(scenarios)},
              "runs": [], "failures": []}
    log(f"versions: {result['versions']}")

    def record(proxy, scenario, rnd, r):
        r.update(proxy=proxy, scenario=scenario, round=rnd)
        result["runs"].append(r)
        log(f"  {proxy:10} {scenario}: {r['rps']:>9.0f} req/s  p50 {r['p50_ms']:.3f} ms  "
            f"p99 {r['p99_ms']:.3f} ms  cpu {r['cpu_s_per_100k']:.3f} s/100k  "
            f"core {r['proxy_core_util'] * 100:.0f}%  rss {r['rss_load_max_kib'] / 1024:.1f} MiB"
            f"  errors {r['errors']}")

    def attempt(name, scenario, fn):
        try:
            fn()
        except Exception as e:  # record, keep going with the other proxies
            log(f"FAILED {name} {scenario}: {e}")
            result["failures"].append({"proxy": name, "scenario": scenario, "error": str(e)})
        finally:
            px[name].stop()

    for rnd in range(args.repeat if scenarios & {"a", "b", "c"} else 0):
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
    for s in ("a", "b", "c", "d"):
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
    return lines


if __name__ == "__main__":
    sys.exit(main())
