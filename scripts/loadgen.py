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
measured in the same run, then each service's CPU seconds per session (utime +
stime from /proc before and after its run; the shared Kafka, SeaweedFS and
PostgreSQL too, whose counts include whatever else used them meanwhile). With
--half-rate the distributed deployment is driven once more at half its
measured completed sessions/s (--rate) for the upload latency at that load;
with --read-in-request-too it is also measured with the gateway reading
uploads in the request (read_uploads = "in_request"), as it did before the
processors read them. With --scale-out 2,2,2 the same recordings also go
through one deployment of 2 gateways, 2 processors and 2 sinks (topics of
--scale-out-partitions partitions), the gateways taking uploads in turn:
`tracepipe loadgen` is given each gateway's URL, a client-side round robin,
rather than a proxy in this script, whose copying of every upload would take
CPU from the services on the same cores and be measured as theirs. Its
completed sessions/s is printed as a ratio to the 1 + 1 + 1 layout's, and its
CPU per session per service summed over the instances, with each instance's
share. Loopback only; bounded by --count and --timeout.

  eval "$(scripts/services/env.sh)"   # the distributed step needs the services
  cargo build --release --bin tracepipe
  scripts/loadgen.py --binary target/release/tracepipe
  scripts/loadgen.py --scale-out 2,2,2        # + several instances of each service
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


def wait_for_assignment(instances, topic, partitions, bound=90):
    """Waits until the consumer-group members `instances` (their .out files)
    together hold every partition of `topic`, each by its latest
    `assigned [...]` line: a member that joins late would otherwise take its
    share in a rebalance during the measured run. Warns after `bound`."""
    deadline = time.time() + bound
    pattern = re.compile(r"assigned \[([^\]]*)\]")
    while time.time() < deadline:
        held = set()
        for out in instances:
            with open(out[:-4] + ".err", errors="replace") as f:
                found = pattern.findall(f.read())
            if found:
                held |= {p for p in found[-1].split(", ") if p.startswith(f"{topic}:")}
        if len(held) >= partitions:
            return
        time.sleep(0.2)
    print(f"warning: {topic}: the members did not hold all {partitions} partitions within {bound} s",
          file=sys.stderr)


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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# [topics] partitions in config/*.toml.
DEFAULT_PARTITIONS = 4
SERVICES = os.path.join(os.environ.get("TRACEPIPE_CACHE", os.path.expanduser("~/.cache/tracepipe")), "services")


def stat_fields(pid):
    """/proc/PID/stat after the command name: [state, ppid, ...]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """CPU seconds (user + system) of `pid` and its live descendants, and of
    the children they reaped (a PostgreSQL backend that ended), or None."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(stat_fields(entry)[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            f = stat_fields(p)
        except (OSError, IndexError):
            if p == pid:
                return None
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 here.
        total += sum(int(x) for x in f[11:15])
        todo += children.get(p, [])
    return total / CLOCK_TICKS


def shared_services():
    """(label, pid) of the backing services scripts/services/ started."""
    found = []
    # PostgreSQL may run from the older system-wide data directory.
    for label, paths in (("kafka", ["kafka/kafka.pid"]), ("seaweedfs", ["seaweedfs/weed-server.pid"]),
                         ("seaweedfs filer", ["seaweedfs/weed-filer.pid"]),
                         ("postgresql", ["postgres/data/postmaster.pid", "/var/lib/tracepipe/postgres/data/postmaster.pid"])):
        for path in paths:
            try:
                with open(os.path.join(SERVICES, path)) as f:
                    pid = int(f.readline().strip())
            except (OSError, ValueError):
                continue
            if os.path.exists(f"/proc/{pid}"):
                found.append((label, pid))
                break
    return found


def cpu_snapshot(procs):
    return {label: cpu_seconds(pid) for label, pid in procs}


def cpu_per_session(before, after, sessions):
    """{label: CPU seconds per session} over a run."""
    return {label: (after[label] - before[label]) / sessions
            for label in before if before[label] is not None and after.get(label) is not None}


def loadgen(binary, urls, key, files, args, rss, rate=None):
    command = [binary, "loadgen", "--count", str(len(files)),
               "--concurrency", str(args.concurrency), "--timeout", str(args.timeout), "--json"]
    for url in urls:
        command += ["--url", url]
    if rate is not None:
        command += ["--rate", f"{rate:.2f}"]
    for label, proc in rss:
        command += ["--rss", f"{label}={proc.pid}"]
    env = dict(os.environ, TRACEPIPE_API_KEY=key)
    done = subprocess.run(command + files, cwd=ROOT, env=env, capture_output=True, text=True)
    if not done.stdout.strip():
        sys.exit(f"loadgen failed: {done.stderr}")
    print(done.stdout.strip(), file=sys.stderr)
    return json.loads(done.stdout)


def distributed(binary, files, args, logs, reading, rows, cpu, layout=(1, 1, 1), partitions=None):
    """The gateway + processor + sink on the services, reading uploads as
    `reading` says, with `layout` = (gateways, processors, sinks) instances of
    one deployment (the gateways taking uploads in turn: loadgen's repeated
    --url); appends its rows and CPU costs, each service's summed over its
    instances, and returns the completed sessions/s."""
    gateways, processors, sinks = layout
    name = f"loadgen{os.getpid()}_{reading}_{gateways}{processors}{sinks}_{int(time.time())}"
    env = dict(os.environ,
               TRACEPIPE_TOPICS_SESSIONS=f"{name}.sessions", TRACEPIPE_TOPICS_EXAMPLES=f"{name}.examples",
               TRACEPIPE_TOPICS_DEAD_LETTER=f"{name}.dead-letter", TRACEPIPE_TOPICS_STATUS=f"{name}.status",
               TRACEPIPE_TOPICS_CATALOG=f"{name}.catalog",
               TRACEPIPE_S3_PREFIX=name, TRACEPIPE_DATABASE_SCHEMA=name,
               TRACEPIPE_LISTEN="127.0.0.1:0", TRACEPIPE_METRICS_LISTEN="127.0.0.1:0",
               TRACEPIPE_READ_UPLOADS=reading,
               TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY="0",
               TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE="0")
    if partitions is not None:
        env["TRACEPIPE_TOPICS_PARTITIONS"] = str(partitions)
    if layout == (1, 1, 1):
        label = "gateway + processor + sink"
    else:
        label = f"{gateways} gateways + {processors} processors + {sinks} sinks"
    label += f", {partitions or 'default'} partitions" if layout != (1, 1, 1) or partitions else ""
    label += " (gateway reads in request)" if reading == "in_request" else ""
    procs = []  # (service, instance label, Popen)
    try:
        urls, key, members = [], None, {}
        # The first gateway creates the topics and the schema; the others
        # start once it listens.
        for i in range(gateways):
            instance = f"gateway-{i + 1}"
            proc, out = start(binary, ["gateway"], logs, f"{instance}-{reading}-{gateways}{processors}{sinks}",
                              dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-gateway"))
            procs.append(("gateway", instance, proc))
            urls.append(wait_for(out, r"listening on (\S+)", proc).group(1))
            key = key or wait_for(out, r"(tp_live_\S+)", proc).group(1)
        for service, count in (("processor", processors), ("sink", sinks)):
            for i in range(count):
                instance = f"{service}-{i + 1}"
                proc, out = start(binary, [service], logs, f"{instance}-{reading}-{gateways}{processors}{sinks}",
                                  dict(env, TRACEPIPE_KAFKA_GROUP=f"{name}-{service}"))
                procs.append((service, instance, proc))
                members.setdefault(service, []).append(out)
                if service == "processor":
                    wait_for(out, r"ready", proc)
        for service, topic in (("processor", f"{name}.sessions"), ("sink", f"{name}.examples")):
            wait_for_assignment(members[service], topic, partitions or DEFAULT_PARTITIONS)
        instances = [(instance, proc.pid) for _, instance, proc in procs]
        watched = instances + shared_services()
        rss = [(instance, proc) for _, instance, proc in procs]
        before = cpu_snapshot(watched)
        report = loadgen(binary, urls, key, files, args, rss)
        per_instance = cpu_per_session(before, cpu_snapshot(watched), len(files))
        # Each service's cost per session is its instances' sum; with more
        # than one instance, each one's share is printed too.
        per_service, shares = {}, []
        for service, instance, _ in procs:
            if instance in per_instance:
                cost = per_instance.pop(instance)
                per_service[service] = per_service.get(service, 0.0) + cost
                shares.append(f"{instance} {cost * 1000:.1f} ms")
        per_service.update(per_instance)  # the shared services
        if layout != (1, 1, 1):
            per_service["instances"] = ", ".join(shares)
        cpu.append((label, per_service))
        rows.append((label, report["accepted_sessions_per_s"], report["completed_sessions_per_s"], report,
                     rss_text(report)))
        if args.half_rate and reading == "later" and layout == (1, 1, 1):
            rate = report["completed_sessions_per_s"] / 2
            half = loadgen(binary, urls, key, files, args, rss, rate=rate)
            rows.append((f"{label} at --rate {rate:.1f} (half its peak)", half["accepted_sessions_per_s"],
                         half["completed_sessions_per_s"], half, rss_text(half)))
        return report["completed_sessions_per_s"]
    finally:
        stop([proc for _, _, proc in procs])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tracepipe"))
    ap.add_argument("--count", type=int, default=240)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=300, help="seconds each mode may take")
    ap.add_argument("--skip-distributed", action="store_true")
    ap.add_argument("--half-rate", action="store_true",
                    help="drive the distributed deployment again at half its completed sessions/s")
    ap.add_argument("--read-in-request-too", action="store_true",
                    help="also measure the gateway reading uploads in the request")
    ap.add_argument("--partitions", type=int,
                    help="partitions of the 1 + 1 + 1 deployment's topics (default: the services' own, 4)")
    ap.add_argument("--scale-out", metavar="G,P,S",
                    help="also run G gateways (taking uploads in turn), P processors and S sinks of one "
                         "deployment, e.g. 2,2,2, and compare it with the 1 + 1 + 1 layout")
    ap.add_argument("--scale-out-partitions", type=int, default=8,
                    help="partitions of the scaled-out deployment's topics")
    ap.add_argument("--scale-out-first", action="store_true",
                    help="run the scaled-out layout before the 1 + 1 + 1 one (to see an order effect)")
    args = ap.parse_args()
    scale_out = None
    if args.scale_out:
        try:
            scale_out = tuple(int(n) for n in args.scale_out.split(","))
        except ValueError:
            scale_out = ()
        if len(scale_out) != 3 or min(scale_out) < 1:
            sys.exit(f"--scale-out {args.scale_out}: expected three counts like 2,2,2")
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
        print(f"{len(files)} recordings, {mb:.0f} MB gzipped; logs in {logs}; load average "
              f"{os.getloadavg()[0]:.1f}", file=sys.stderr)

        cpu = []  # (mode, {service: CPU s per session})
        layouts = {}  # (gateways, processors, sinks): completed sessions/s, reading later
        children_before = os.times()
        began = time.time()
        process = subprocess.run(
            [binary, "process", "--suite", "gmail", "--jobs", "2", "--out", os.path.join(work, "process"), *files],
            cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
        took = time.time() - began
        if process.returncode != 0:
            sys.exit(f"process failed: {process.stderr[-2000:]}")
        floor = len(files) / took
        children_after = os.times()
        rows.append(("process --jobs 2", floor, floor, None, ""))
        cpu.append(("process --jobs 2", {"process": (
            children_after.children_user + children_after.children_system
            - children_before.children_user - children_before.children_system) / len(files)}))

        # One key drives every client: its per-key admission limits would
        # measure the limits, not the server.
        serve, out = start(binary, ["serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "serve")],
                           logs, "serve", dict(os.environ, TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY="0",
                                               TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE="0"))
        try:
            url = wait_for(out, r"listening on (\S+)", serve).group(1)
            key = wait_for(out, r"(tp_live_\S+)", serve).group(1)
            before = cpu_snapshot([("serve", serve.pid)])
            report = loadgen(binary, [url], key, files, args, [("serve", serve)])
            cpu.append(("serve", cpu_per_session(before, cpu_snapshot([("serve", serve.pid)]), len(files))))
        finally:
            stop([serve])
        rows.append(("serve + loadgen", report["accepted_sessions_per_s"], report["completed_sessions_per_s"],
                     report, rss_text(report)))

        if not args.skip_distributed:
            if "TRACEPIPE_KAFKA_BOOTSTRAP" not in os.environ:
                sys.exit('the distributed step needs the services: eval "$(scripts/services/env.sh)"')
            runs = [("later", (1, 1, 1), args.partitions)]
            if scale_out:
                scaled = ("later", scale_out, args.scale_out_partitions)
                runs = [scaled] + runs if args.scale_out_first else runs + [scaled]
            if args.read_in_request_too:
                runs.append(("in_request", (1, 1, 1), args.partitions))
            for reading, layout, partitions in runs:
                completed = distributed(binary, files, args, logs, reading, rows, cpu, layout, partitions)
                if reading == "later":
                    layouts[layout] = completed
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
    print()
    print("CPU seconds per session (user + system, from /proc; the shared services' include other load):")
    print()
    labels = []
    for _, costs in cpu:
        labels += [l for l in costs if l not in labels and l != "instances"]
    print("| mode | " + " | ".join(labels) + " | ours total |")
    print("|---|" + "---|" * (len(labels) + 1))
    ours = {"process", "serve", "gateway", "processor", "sink"}
    for mode, costs in cpu:
        cells = [f"{costs[l] * 1000:.1f} ms" if l in costs else "–" for l in labels]
        total = sum(v for l, v in costs.items() if l in ours)
        print(f"| {mode} | " + " | ".join(cells) + f" | {total * 1000:.1f} ms |")
    for mode, costs in cpu:
        if "instances" in costs:
            print(f"\n{mode}, each instance's CPU per session: {costs['instances']}")
    if scale_out and scale_out in layouts and (1, 1, 1) in layouts:
        ratio = layouts[scale_out] / layouts[(1, 1, 1)]
        print(f"\nscale-out: {layouts[scale_out]:.1f} vs {layouts[(1, 1, 1)]:.1f} completed sessions/s, "
              f"{ratio:.2f} of the 1 + 1 + 1 layout ({'does not drop' if ratio >= 0.95 else 'DROPS'}: "
              f"criterion ≥ 0.95); load average {os.getloadavg()[0]:.1f}")


def ms(value):
    return "–" if value is None else f"{value:.0f}"


def rss_text(report):
    return ", ".join(f"{s['service']} {s['peak_rss_mb']:.0f}" if s["peak_rss_mb"] is not None else f"{s['service']} ?"
                     for s in report["peak_rss"])


if __name__ == "__main__":
    main()
