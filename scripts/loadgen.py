#!/usr/bin/env python3
"""Throughput of the three ways to run Tracepipe, on this machine, in one run.

Makes --count distinct recordings from tests/fixtures/recordings (copies whose
gzip header time differs, so `process` does not skip them as duplicates while
every copy holds the same trace), then measures, one after the other:

  1. `tracepipe process --jobs 2` on them;
  2. `tracepipe serve` + `tracepipe loadgen`;
  3. the distributed deployment (gateway + processor + sink on the services of
     scripts/services/, with topics, schema, consumer groups and S3 prefix of
     its own, as tests/common/mod.rs does) + `tracepipe loadgen`;

and prints one table with each mode's sessions/s as a ratio to `process`'s,
measured in the same run. Loopback only; bounded by --count and --timeout.

  eval "$(scripts/services/env.sh)"   # the distributed step needs the services
  cargo build --release --bin tracepipe
  scripts/loadgen.py --binary target/release/tracepipe
"""
import argparse, glob, json, os, re, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def variants(fixtures, count, into):
    """`count` files cycling through `fixtures`, each with its own gzip mtime."""
    paths = []
    for i in range(count):
        source = fixtures[i % len(fixtures)]
        with open(source, "rb") as f:
            data = bytearray(f.read())
        if data[:2] != b"\x1f\x8b" or data[3] & 0x02:
            sys.exit(f"{source}: not a gzip file without a header CRC")
        # MTIME (bytes 4-7) is outside the data's CRC: the trace is unchanged.
        data[4:8] = (1_000_000 + i).to_bytes(4, "little")
        path = os.path.join(into, f"{i:04d}-{os.path.basename(source)}")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


def wait_for(path, pattern, proc, bound=120):
    """The first match of `pattern` in the file `path`, once written."""
    deadline = time.time() + bound
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    sys.exit(f"{path}: `{pattern}` not printed; see {path[:-4]}.err")


def start(binary, args, logs, label, env):
    out = open(os.path.join(logs, f"{label}.out"), "w")
    err = open(os.path.join(logs, f"{label}.err"), "w")
    proc = subprocess.Popen([binary, *args], cwd=ROOT, env=env, stdout=out, stderr=err)
    return proc, os.path.join(logs, f"{label}.out")


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def loadgen(binary, url, key, files, args, rss):
    command = [binary, "loadgen", "--url", url, "--count", str(len(files)),
               "--concurrency", str(args.concurrency), "--timeout", str(args.timeout), "--json"]
    for label, proc in rss:
        command += ["--rss", f"{label}={proc.pid}"]
    env = dict(os.environ, TRACEPIPE_API_KEY=key)
    done = subprocess.run(command + files, cwd=ROOT, env=env, capture_output=True, text=True)
    if not done.stdout.strip():
        sys.exit(f"loadgen failed: {done.stderr}")
    print(done.stdout.strip(), file=sys.stderr)
    return json.loads(done.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tracepipe"))
    ap.add_argument("--count", type=int, default=240)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=300, help="seconds each mode may take")
    ap.add_argument("--skip-distributed", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: no tracepipe binary; cargo build --release --bin tracepipe")
    fixtures = sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/recordings/*.trace.json.gz")))
    work = tempfile.mkdtemp(prefix="tracepipe-loadgen-")
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    rows = []
    try:
        os.makedirs(os.path.join(work, "recordings"))
        files = variants(fixtures, args.count, os.path.join(work, "recordings"))
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        print(f"{len(files)} recordings, {mb:.0f} MB gzipped; logs in {logs}", file=sys.stderr)

        began = time.time()
        process = subprocess.run(
            [binary, "process", "--suite", "gmail", "--jobs", "2", "--out", os.path.join(work, "process"), *files],
            cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
        took = time.time() - began
        if process.returncode != 0:
            sys.exit(f"process failed: {process.stderr[-2000:]}")
        floor = len(files) / took
        rows.append(("process --jobs 2", floor, floor, None, ""))

        # One key drives every client: its per-key admission limits would
        # measure the limits, not the server.
        serve, out = start(binary, ["serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "serve")],
                           logs, "serve", dict(os.environ, TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY="0",
                                               TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE="0"))
        try:
            url = wait_for(out, r"listening on (\S+)", serve).group(1)
            key = wait_for(out, r"(tp_live_\S+)", serve).group(1)
            report = loadgen(binary, url, key, files, args, [("serve", serve)])
        finally:
            stop([serve])
        rows.append(("serve + loadgen", report["accepted_sessions_per_s"], report["completed_sessions_per_s"],
                     report, rss_text(report)))

        if not args.skip_distributed:
            if "TRACEPIPE_KAFKA_BOOTSTRAP" not in os.environ:
                sys.exit('the distributed step needs the services: eval "$(scripts/services/env.sh)"')
            name = f"loadgen{os.getpid()}_{int(time.time())}"
            env = dict(os.environ,
                       TRACEPIPE_TOPICS_SESSIONS=f"{name}.sessions", TRACEPIPE_TOPICS_EXAMPLES=f"{name}.examples",
                       TRACEPIPE_TOPICS_DEAD_LETTER=f"{name}.dead-letter", TRACEPIPE_TOPICS_STATUS=f"{name}.status", TRACEPIPE_TOPICS_CATALOG=f"{name}.catalog",
                       TRACEPIPE_S3_PREFIX=name, TRACEPIPE_DATABASE_SCHEMA=name,
                       TRACEPIPE_LISTEN="127.0.0.1:0", TRACEPIPE_METRICS_LISTEN="127.0.0.1:0",
                       TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY="0",
                       TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE="0")
            procs = []
            try:
                gateway, out = start(binary, ["gateway"], logs, "gateway",
                                     dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-gateway"))
                procs.append(gateway)
                url = wait_for(out, r"listening on (\S+)", gateway).group(1)
                key = wait_for(out, r"(tp_live_\S+)", gateway).group(1)
                for service in ("processor", "sink"):
                    proc, _ = start(binary, [service], logs, service,
                                    dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-{service}"))
                    procs.append(proc)
                report = loadgen(binary, url, key, files, args,
                                 [("gateway", procs[0]), ("processor", procs[1]), ("sink", procs[2])])
            finally:
                stop(procs)
            rows.append(("gateway + processor + sink", report["accepted_sessions_per_s"],
                         report["completed_sessions_per_s"], report, rss_text(report)))
    finally:
        shutil.rmtree(os.path.join(work, "recordings"), ignore_errors=True)
        shutil.rmtree(os.path.join(work, "process"), ignore_errors=True)
        shutil.rmtree(os.path.join(work, "serve"), ignore_errors=True)

    print(f"| mode ({args.count} sessions, {args.concurrency} clients) | accepted sessions/s | completed sessions/s "
          f"| completed ÷ process | upload p50 / p99 ms | upload→COMPLETED p50 / p99 ms | refused, failed or unfinished | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, accepted, completed, report, rss in rows:
        if report is None:
            print(f"| {mode} | – | {completed:.1f} | 1.00 | – | – | 0 | – |")
            continue
        print(f"| {mode} | {accepted:.1f} | {completed:.1f} | {completed / floor:.2f} "
              f"| {ms(report['upload_ms_p50'])} / {ms(report['upload_ms_p99'])} "
              f"| {ms(report['complete_ms_p50'])} / {ms(report['complete_ms_p99'])} "
              f"| {args.count - report['completed']} | {rss} |")


def ms(value):
    return "–" if value is None else f"{value:.0f}"


def rss_text(report):
    return ", ".join(f"{s['service']} {s['peak_rss_mb']:.0f}" if s["peak_rss_mb"] is not None else f"{s['service']} ?"
                     for s in report["peak_rss"])


if __name__ == "__main__":
    main()
