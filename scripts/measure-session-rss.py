#!/usr/bin/env python3
"""Peak memory against the number of events in one session.

Writes recordings of N events of the shapes that used to amplify memory (an
input_events.jsonl of identical click lines, a Chrome trace of tracepipe:click
marks), then for each N measures the peak RSS of

  * `tracepipe inspect` on the file: reading alone, the floor;
  * `tracepipe process` on it (classification, both conversations, tables);
  * `tracepipe serve` (optional, --serve): a fresh server per run, the file
    uploaded, its Example waited for, the server's VmHWM read from /proc;
  * the distributed gateway and processor (optional, --distributed, on the
    services of `eval "$(scripts/services/env.sh)"`): a fresh pair per run with
    names of their own, the file uploaded to the gateway, its Example waited
    for, both VmHWM read from /proc.

Each line prints the ratio to the same command's run on the smallest N and
to `inspect` on the same file, and what the run ended in (a session beyond the
limits is refused: 413 at upload, or a message from `process`). At the
default limits peak RSS must stay flat beyond the events limit and under
--max-rss-mb; the script exits non-zero otherwise. --unlimited raises every
limit to show what the same inputs cost without them (the amplification that
the limits bound; needs several GB at 1M events).
"""
import argparse, json, os, re, subprocess, sys, tempfile, time, urllib.request, uuid

PROBE = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "sys.stderr.write(p.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n"
)
URL = "http://127.0.0.1:4173/mail/u/0/#inbox"


def write_jsonl(path, n):
    with open(path, "w") as out:
        for i in range(n):
            seconds = 1767731400 + i // 1000
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{i % 1000:03d}000+00:00"
            out.write(json.dumps({
                "suite": "gmail", "tab": 1, "url": URL, "timestamp": stamp, "action": "click",
                "selector": {"tag": "div", "role": "button", "label": "Compose"}, "additional_info": {},
            }) + "\n")


def write_trace(path, n):
    detail = json.dumps({"target": {"tag": "div", "role": "button", "label": "Compose"}, "url": URL})
    with open(path, "w") as out:
        out.write('{"traceEvents":[\n')
        out.write(json.dumps({"args": {"name": "Renderer"}, "cat": "__metadata", "name": "process_name",
                              "ph": "M", "pid": 20, "tid": 0, "ts": 0}))
        for i in range(n):
            out.write(",\n" + json.dumps({
                "args": {"data": {"detail": detail, "startTime": 1}}, "cat": "blink.user_timing",
                "name": "tracepipe:click", "ph": "I", "pid": 20, "tid": 20, "ts": 1_000_000 + i * 1000,
            }))
        out.write('\n],"metadata":{}}\n')


def peak_of(command):
    """Peak RSS (MB), exit code and stderr of one command, measured from a small interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *command], capture_output=True, text=True)
    try:
        peak_kb, code = proc.stdout.split()
    except ValueError:
        sys.exit(f"measurement failed: {proc.stdout} {proc.stderr[-2000:]}")
    return int(peak_kb) / 1024, int(code), proc.stderr


def process_run(binary, path, out, limit_args):
    peak, code, stderr = peak_of([binary, "process", "--suite", "gmail", "--out", out, *limit_args, path])
    if code == 0:
        return peak, "ok"
    said = [l for l in stderr.splitlines() if path in l]
    reason = said[0].split(": ", 1)[-1] if said else stderr.strip().splitlines()[-1:]
    return peak, f"refused: {str(reason)[:90]}"


def multipart(fields, file_field, file_path):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    with open(file_path, "rb") as fh:
        body = fh.read()
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="upload"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + body + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def api_client(base, key, timeout):
    def call(method, route, body=None, content_type=None):
        request = urllib.request.Request(base + route, data=body, method=method, headers={"X-API-Key": key})
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
    return call


def upload_and_wait(call, path, timeout):
    """Uploads `path` to the gmail suite and waits for its Example: what it ended in."""
    body, content_type = multipart({"suite_id": "gmail"}, "input_events", path)
    status, answer = call("POST", "/sessions", body, content_type)
    if status != 201:
        return f"{status} {answer['error']['code']}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, examples = call("GET", f"/examples?session_id={answer['id']}")
        states = [e["status"] for e in examples["items"]]
        if states and all(s in ("COMPLETED", "FAILED") for s in states):
            failed = [e for e in examples["items"] if e["status"] == "FAILED"]
            return "ok" if not failed else f"FAILED {failed[0]['error']['code']}"
        time.sleep(0.2)
    return "timeout"


def started(process, pattern, seconds=60):
    """The first match of `pattern` in the process's stdout lines, or None."""
    found = {}
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            return None
        for name, regex in pattern.items():
            match = re.search(regex, line)
            if match and name not in found:
                found[name] = match[1]
        if len(found) == len(pattern):
            return found
    return None


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read())[1]) / 1024


def stop(*processes):
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def serve_run(binary, path, work, env_limits, timeout):
    """Peak RSS (MB) of a fresh `tracepipe serve` that takes `path` and processes it."""
    data = tempfile.mkdtemp(dir=work)
    env = dict(os.environ, TRACEPIPE_DATA_DIR=data, TRACEPIPE_LISTEN="127.0.0.1:0", **env_limits)
    server = subprocess.Popen([binary, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        found = started(server, {"key": r"(tp_live_\S+)", "base": r"(http://\S+/v1)"})
        if not found:
            return None, "serve did not start"
        outcome = upload_and_wait(api_client(found["base"], found["key"], timeout), path, timeout)
        return peak_mb(server.pid), outcome
    finally:
        stop(server)


def distributed_run(binary, path, env_limits, timeout):
    """Peak RSS (MB) of a fresh gateway and processor, and what the upload ended in."""
    name = f"rss{os.getpid()}_{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **env_limits,
               TRACEPIPE_TOPICS_SESSIONS=f"{name}.sessions", TRACEPIPE_TOPICS_EXAMPLES=f"{name}.examples",
               TRACEPIPE_TOPICS_DEAD_LETTER=f"{name}.dead-letter", TRACEPIPE_TOPICS_STATUS=f"{name}.status",
               TRACEPIPE_TOPICS_CATALOG=f"{name}.catalog", TRACEPIPE_S3_PREFIX=name,
               TRACEPIPE_DATABASE_SCHEMA=name, TRACEPIPE_LISTEN="127.0.0.1:0",
               TRACEPIPE_METRICS_LISTEN="127.0.0.1:0")
    gateway = subprocess.Popen([binary, "gateway"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-gateway"))
    processor = subprocess.Popen([binary, "processor"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env=dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-processor"))
    try:
        found = started(gateway, {"key": r"(tp_live_\S+)", "base": r"(http://\S+/v1)"})
        if not found or not started(processor, {"ready": r"(ready)"}):
            return None, None, "the gateway or the processor did not start"
        outcome = upload_and_wait(api_client(found["base"], found["key"], timeout), path, timeout)
        return peak_mb(gateway.pid), peak_mb(processor.pid), outcome
    finally:
        stop(gateway, processor)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--events", default="10000,30000,100000,300000,1000000",
                    help="comma-separated events per session")
    ap.add_argument("--shapes", default="jsonl,trace")
    ap.add_argument("--serve", action="store_true", help="also measure tracepipe serve")
    ap.add_argument("--distributed", action="store_true",
                    help="also measure the gateway and the processor (needs the services' environment)")
    ap.add_argument("--unlimited", action="store_true", help="raise every limit (shows the unbounded cost)")
    ap.add_argument("--max-rss-mb", type=float, default=256, help="bound at the default limits")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/tracepipe/session-rss"))
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    counts = sorted(int(n) for n in args.events.split(","))
    os.makedirs(args.work, exist_ok=True)
    huge = 1 << 40
    limit_args = ["--max-events", str(huge), "--max-actions", str(huge), "--max-output-bytes", str(huge)] if args.unlimited else []
    env_limits = {"TRACEPIPE_LIMITS_MAX_EVENTS": str(huge), "TRACEPIPE_LIMITS_MAX_ACTIONS": str(huge),
                  "TRACEPIPE_LIMITS_MAX_OUTPUT_BYTES": str(huge)} if args.unlimited else {}
    # The processor's limits are top-level keys of config/processor.toml.
    processor_limits = {"TRACEPIPE_MAX_EVENTS": str(huge), "TRACEPIPE_MAX_ACTIONS": str(huge),
                        "TRACEPIPE_MAX_OUTPUT_BYTES": str(huge)} if args.unlimited else {}
    over = []
    print(f"{'shape':6} {'events':>8} {'command':8} {'peak MB':>8} {'x first':>8} {'x inspect':>9}  outcome")
    for shape in args.shapes.split(","):
        first = {}
        for n in counts:
            path = os.path.join(args.work, f"{shape}-{n}." + ("jsonl" if shape == "jsonl" else "trace.json"))
            if not os.path.exists(path):
                (write_jsonl if shape == "jsonl" else write_trace)(path + ".tmp", n)
                os.replace(path + ".tmp", path)
            floor, code, stderr = peak_of([args.binary, "inspect", path])
            runs = [("inspect", floor, "ok" if code == 0 else "refused")]
            with tempfile.TemporaryDirectory(dir=args.work) as out:
                runs.append(("process", *process_run(args.binary, path, out, limit_args)))
            if args.serve:
                with tempfile.TemporaryDirectory(dir=args.work) as work:
                    peak, outcome = serve_run(args.binary, path, work, env_limits, args.timeout)
                if peak is not None:
                    runs.append(("serve", peak, outcome))
            if args.distributed:
                gateway, processor, outcome = distributed_run(
                    args.binary, path, {**env_limits, **processor_limits}, args.timeout)
                if gateway is not None:
                    runs.append(("gateway", gateway, outcome))
                    runs.append(("processor", processor, outcome))
            for command, peak, outcome in runs:
                first.setdefault(command, peak)
                print(f"{shape:6} {n:>8} {command:8} {peak:8.1f} {peak / first[command]:8.2f} {peak / floor:9.2f}  {outcome}",
                      flush=True)
                if not args.unlimited and command != "inspect" and peak > args.max_rss_mb:
                    over.append(f"{shape} {n} {command}: {peak:.0f} MB")
        print(f"{shape}: events grew {counts[-1] / counts[0]:.0f}x; peak RSS of process grew "
              f"{runs[1][1] / first['process']:.2f}x")
    if over:
        sys.exit(f"peak RSS over {args.max_rss_mb:.0f} MB: " + "; ".join(over))


if __name__ == "__main__":
    main()
