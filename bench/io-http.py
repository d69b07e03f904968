#!/usr/bin/env python3
"""io-http.py — HTTP "hello" servers under wrk, side by side and interleaved:
coring (examples/http), Go net/http (bench/go-hello.go, GOMAXPROCS=1) and
nginx (one process, `return 200`). Server on CPU 0, wrk (1 thread) on CPU 1.
Reports requests/s and server CPU per request (user/kernel, /proc/PID/stat).

  python3 bench/io-http.py [--rounds 3] [--duration 3] [--conns 50]

Needs wrk (Debian: wrk); Go and nginx (nginx-light) are used when installed.
"""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, tempfile, time

B = "build/release"
TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def nginx_cmd(port):
    d = tempfile.mkdtemp(prefix="coring-nginx-")
    conf = os.path.join(d, "nginx.conf")
    open(conf, "w").write(f"""daemon off; master_process off; worker_processes 1;
error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};
  fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type text/plain; return 200 "Hello, world!"; }} }} }}
""")
    return ["nginx", "-c", conf, "-p", d]


def start(name):
    if name == "coring":
        p = subprocess.Popen(["taskset", "-c", "0", f"{B}/examples/http", "0"], stdout=subprocess.PIPE, text=True)
        return p, int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    if name == "go":
        env = dict(os.environ, GOMAXPROCS="1")
        p = subprocess.Popen(["taskset", "-c", "0", f"{B}/bench/go-hello", "0"], stdout=subprocess.PIPE, text=True, env=env)
        return p, int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    port = free_port()
    p = subprocess.Popen(["taskset", "-c", "0"] + nginx_cmd(port))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return p, port


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])


def run_one(name, conns, dur):
    srv, port = start(name)
    u0, s0 = cpu(srv.pid)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}s",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    u1, s1 = cpu(srv.pid)
    srv.send_signal(signal.SIGINT if name != "nginx" else signal.SIGQUIT)
    try:
        srv.wait(5)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    return dict(rps=rps, user=(u1 - u0) / TCK / reqs * 1e9, kern=(s1 - s0) / TCK / reqs * 1e9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    names = ["coring"]
    if shutil.which("go"):
        # Go's standard library only: builds offline, no module needed.
        env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(tempfile.gettempdir(), "coring-gocache"))
        subprocess.run(["go", "build", "-o", f"{B}/bench/go-hello", "bench/go-hello.go"], check=True, env=env)
        names.append("go")
    if shutil.which("nginx"):
        names.append("nginx")
    res = {n: [] for n in names}
    for _ in range(a.rounds):
        for n in names:
            res[n].append(run_one(n, a.conns, a.duration))
    print(f"HTTP hello under wrk -t1 -c{a.conns}, {a.rounds} rounds x {a.duration}s, interleaved; median (min-max)\n")
    print("| server | req/s | CPU/req total ns | user ns | kernel ns |")
    print("|---|---|---|---|---|")
    for n in names:
        v = res[n]
        r = [x["rps"] for x in v]
        t = [x["user"] + x["kern"] for x in v]
        print(f"| {n} | {statistics.median(r):.0f} ({min(r):.0f}-{max(r):.0f}) | {statistics.median(t):.0f} "
              f"({min(t):.0f}-{max(t):.0f}) | {statistics.median([x['user'] for x in v]):.0f} "
              f"| {statistics.median([x['kern'] for x in v]):.0f} |")


if __name__ == "__main__":
    main()
