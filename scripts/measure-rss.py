#!/usr/bin/env python3
"""Peak memory of `tracepipe inspect` on a large trace.

Builds a trace of at least --size-mb megabytes by concatenating the events of the
committed recordings (timestamps shifted so the sessions follow each other), runs
the release binary on it, and reports the child's peak RSS. Exits non-zero when
the peak exceeds --max-rss-mb, so CI can hold the line.
"""
import argparse, glob, gzip, json, os, subprocess, sys

def build_trace(path, size_mb, fixtures):
    sources = []
    for f in fixtures:
        with gzip.open(f, "rt") as fh:
            doc = json.load(fh)
        events = doc["traceEvents"] if isinstance(doc, dict) else doc
        sources.append([json.dumps(e, separators=(",", ":")) for e in events])
    target = size_mb * 1_000_000
    written, shift, first = 0, 0, True
    with open(path, "w") as out:
        out.write('{"traceEvents":[\n')
        while written < target:
            for lines in sources:
                for line in lines:
                    # Shift ts textually: cheaper than re-serialising every event.
                    ev = json.loads(line) if '"ts":' in line else None
                    if ev is not None and isinstance(ev.get("ts"), (int, float)) and ev["ts"]:
                        ev["ts"] += shift
                        line = json.dumps(ev, separators=(",", ":"))
                    out.write(("" if first else ",\n") + line)
                    first = False
                    written += len(line) + 2
                shift += 60_000_000
                if written >= target:
                    break
        out.write('\n],"metadata":{}}\n')
    return os.path.getsize(path)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--max-rss-mb", type=int, default=100)
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/tracepipe/rss"))
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fixtures = sorted(glob.glob(os.path.join(root, "tests/fixtures/recordings/*.trace.json.gz")))
    if not fixtures:
        sys.exit("no recorded fixtures under tests/fixtures/recordings")
    os.makedirs(args.work, exist_ok=True)
    big = os.path.join(args.work, f"concatenated-{args.size_mb}mb.json")
    if not os.path.exists(big) or os.path.getsize(big) < args.size_mb * 1_000_000:
        print(f"building a {args.size_mb} MB trace from {len(fixtures)} recordings…", file=sys.stderr)
        build_trace(big, args.size_mb, fixtures)
    size = os.path.getsize(big)
    # Measure from a fresh, small interpreter: a child forked from this one would
    # count the memory this process used to build the trace.
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.time()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t, p.returncode)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, args.binary, "inspect", big], capture_output=True, text=True)
    try:
        peak_kb, elapsed, code = proc.stdout.split()
    except ValueError:
        sys.exit(f"measurement failed: {proc.stdout} {proc.stderr[-2000:]}")
    peak_mb, elapsed = int(peak_kb) / 1024, float(elapsed)
    proc.returncode = int(code)
    summary = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    print(f"input {size / 1e6:.0f} MB, {elapsed:.1f} s ({size / 1e6 / elapsed:.0f} MB/s), peak RSS {peak_mb:.1f} MB (limit {args.max_rss_mb} MB)")
    print(f"  {summary}")
    if proc.returncode != 0:
        sys.exit(f"tracepipe inspect failed: {proc.stderr[-2000:]}")
    if peak_mb > args.max_rss_mb:
        sys.exit(f"peak RSS {peak_mb:.1f} MB exceeds {args.max_rss_mb} MB")

if __name__ == "__main__":
    main()
