#!/usr/bin/env python3
"""Peak memory of `tracepipe serve` (or, with --service gateway, of `tracepipe
gateway` on the services of scripts/services/env.sh) under hostile uploads
(issue #11, Why 4-6).

Starts the server on a loopback port with a temporary data directory, records
its resident memory once it is idle (the floor), then, all at once:

- --header-clients connections each send a multipart part header of
  --header-mb megabytes (before the fix the server buffered every one whole:
  six 500 MB headers reached 3.5 GB);
- --stalled-clients uploads send their headers and a few bytes, then stall;
- --silent-clients connections never finish their request headers.

It waits for every connection to be answered or closed, reads the server's
peak RSS (VmHWM), prints it next to the idle floor, checks that a good upload
is still accepted, and exits non-zero when the peak exceeds --max-rss-mb (the
documented bound: 256 MB) or when any hostile client was not refused with the
expected status. Loopback only; every client is bounded in bytes and time.

    python3 scripts/measure-admission-rss.py --binary target/debug/tracepipe
    eval "$(scripts/services/env.sh)"; python3 scripts/measure-admission-rss.py \
        --binary target/debug/tracepipe --service gateway
"""
import argparse, json, os, re, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests/fixtures/recordings/list_labels.trace.json.gz")


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def read_status(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else None


def upload_head(port, key, length, boundary):
    return (
        f"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def huge_header(port, key, megabytes, results):
    total = megabytes << 20
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(upload_head(port, key, total + 100, "H"))

    def send():
        try:
            sock.sendall(b'--H\r\nContent-Disposition: form-data; name="')
            chunk = b"a" * (64 << 10)
            sent = 0
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    results.append(("part header", 413, read_status(sock, 120)))
    sock.close()


def stalled(port, key, suite, results):
    sock = socket.create_connection(("127.0.0.1", port))
    body = (
        f'--B\r\nContent-Disposition: form-data; name="suite_id"\r\n\r\n{suite}\r\n'
        '--B\r\nContent-Disposition: form-data; name="input_events"; filename="r.json"\r\n\r\n{"traceEvents":['
    ).encode()
    sock.sendall(upload_head(port, key, 10_000_000, "B") + body)
    results.append(("stalled upload", 408, read_status(sock, 120)))
    sock.close()


def silent(port, results):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /v1/users/me HTTP/1.1\r\nHost: x\r\n")
    sock.settimeout(120)
    try:
        closed = sock.recv(4096) is not None
    except OSError as e:
        closed = not isinstance(e, socket.timeout)
    results.append(("unfinished headers", "closed", "closed" if closed else "open"))
    sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--header-clients", type=int, default=6)
    ap.add_argument("--header-mb", type=int, default=500)
    ap.add_argument("--stalled-clients", type=int, default=40)
    ap.add_argument("--silent-clients", type=int, default=300)
    ap.add_argument("--max-rss-mb", type=int, default=256)
    ap.add_argument("--service", choices=["serve", "gateway"], default="serve")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tracepipe-admission-rss-")
    env = dict(os.environ)
    env.update({
        "TRACEPIPE_ADMISSION_HEADER_READ_TIMEOUT_SECS": "2",
        "TRACEPIPE_ADMISSION_MIN_UPLOAD_RATE_WINDOW_SECS": "3",
        "TRACEPIPE_ADMISSION_MAX_CONNECTIONS": "128",
        # Every hostile upload of the one key is let in, so that all of them
        # hold whatever they hold at once: the worst case for memory.
        "TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY": str(args.header_clients + args.stalled_clients + 1),
    })
    if args.service == "serve":
        command = [args.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                   os.path.join(work, "data"), "--catalog", os.path.join(ROOT, "catalog")]
    else:
        if "TRACEPIPE_KAFKA_BOOTSTRAP" not in env:
            sys.exit('--service gateway: eval "$(scripts/services/env.sh)" first')
        # Names of its own, as the distributed tests use.
        name = f"rss{os.getpid()}"
        env.update({
            "TRACEPIPE_LISTEN": "127.0.0.1:0",
            "TRACEPIPE_CATALOG": os.path.join(ROOT, "catalog"),
            "TRACEPIPE_S3_PREFIX": name,
            "TRACEPIPE_DATABASE_SCHEMA": name,
            "TRACEPIPE_KAFKA_GROUP": f"{name}-gateway",
            "TMPDIR": work,
            **{f"TRACEPIPE_TOPICS_{t.upper()}": f"{name}.{t.replace('_', '-')}"
               for t in ("sessions", "examples", "dead_letter", "status")},
        })
        command = [args.binary, "gateway"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=env, text=True, cwd=ROOT)
    try:
        key = port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            if not line:
                sys.exit("the server exited before listening")
            m = re.search(r"(tp_live_[A-Za-z0-9_-]+)", line)
            key = m.group(1) if m else key
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else None
        if port is None or key is None:
            sys.exit("the server printed no port or key")

        def api(method, path, **kw):
            import urllib.request
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1{path}", method=method,
                                         headers={"X-API-Key": key, **kw.pop("headers", {})}, **kw)
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()

        _, body = api("GET", "/suites")
        suite = next(s["id"] for s in json.loads(body)["items"] if s["name"] == "gmail")
        time.sleep(1)
        idle = rss_kb(server.pid, "VmRSS")

        results = []
        threads = [threading.Thread(target=huge_header, args=(port, key, args.header_mb, results))
                   for _ in range(args.header_clients)]
        threads += [threading.Thread(target=stalled, args=(port, key, suite, results))
                    for _ in range(args.stalled_clients)]
        threads += [threading.Thread(target=silent, args=(port, results))
                    for _ in range(args.silent_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        peak = rss_kb(server.pid, "VmHWM")

        boundary = "G"
        with open(FIXTURE, "rb") as fh:
            recording = fh.read()
        form = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="suite_id"\r\n\r\n{suite}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="input_events"; filename="r.gz"\r\n\r\n'
        ).encode() + recording + f"\r\n--{boundary}--\r\n".encode()
        status, _ = api("POST", "/sessions", data=form,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

        wrong = [(what, want, got) for what, want, got in results
                 if not (got == want or (isinstance(want, tuple) and got in want))]
        print(f"{args.service}: idle RSS {idle / 1024:.1f} MB; peak RSS under "
              f"{args.header_clients} x {args.header_mb} MB part headers, {args.stalled_clients} stalled "
              f"uploads, {args.silent_clients} unfinished headers: {peak / 1024:.1f} MB "
              f"({peak / idle:.2f} x idle); bound {args.max_rss_mb} MB")
        print(f"good upload afterwards: {status}")
        for what, want, got in wrong[:10]:
            print(f"unexpected: {what}: wanted {want}, got {got}")
        failed = bool(wrong) or status != 201 or peak > args.max_rss_mb * 1024
        sys.exit(1 if failed else 0)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
