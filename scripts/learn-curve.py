#!/usr/bin/env python3
"""Accuracy of `tracepipe learn` with 1, 2 and 3 demonstrations per action, and
how long learning takes (issue #16).

For each N, demonstrations are picked from the Gmail recordings
(tests/fixtures/recordings), in name order, keeping a recording when one of its
calls' tools has fewer than N demonstrations so far (recordings without calls
are never picked: they stay as held-out negatives). A Gmail suite is learned
from them alone into a fresh catalog holding only the imported MCP server, and
`tracepipe eval` scores it on the Gmail recordings not picked and on every
recording of the second mail client (tests/fixtures/recordings-alt). The
hand-written suite (catalog/) is scored on the same sessions for reference.

Then `learn` is timed on 50 demonstrations (the Gmail recordings repeated
under new names); its time includes the leave-one-out check of the report.

Finally the same curve for the two applications that are not mail (the issue
tracker over the GitHub MCP server, the calendar over the Google Calendar
one): demonstrations picked the same way from each app's demonstrations
(tests/fixtures/recordings-<app>/demos; an action demonstrated fewer times
than N keeps all it has), scored on the app's own test sessions
(tests/fixtures/recordings-<app>/tests), which no row ever learns from.

  cargo build --release --bin tracepipe
  scripts/learn-curve.py --binary target/release/tracepipe
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GMAIL = REPO / "tests/fixtures/recordings"
ALT = REPO / "tests/fixtures/recordings-alt"
# (suite, MCP server) of the applications that are not mail.
APPS = [("tracker", "github"), ("calendar", "google_calendar")]


def run(binary, *args):
    out = subprocess.run([binary, *args], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tracepipe {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def overall(stdout):
    """(f1, exact) from `eval --json`'s report."""
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError as error:
        sys.exit(f"eval --json: {error}:\n{stdout}")
    return report["overall"]["f1"], report["overall"]["exact"]


def scenarios(folder=GMAIL):
    """[(name, [tool, …])] of the recordings in `folder`, in name order."""
    found = []
    for sidecar in sorted(folder.glob("*.expected.json")):
        calls = json.loads(sidecar.read_text())["tool_calls"]
        found.append((sidecar.name.removesuffix(".expected.json"), [c["name"] for c in calls]))
    return found


def pick(all_scenarios, per_action):
    counts, picked = {}, []
    for name, tools in all_scenarios:
        if tools and any(counts.get(t, 0) < per_action for t in tools):
            picked.append(name)
            for t in tools:
                counts[t] = counts.get(t, 0) + 1
    return picked


def stage(names, into, rename=lambda n: n, source=GMAIL):
    into.mkdir(parents=True, exist_ok=True)
    for n in names:
        for suffix in (".expected.json", ".trace.json.gz"):
            shutil.copy(source / f"{n}{suffix}", into / f"{rename(n)}{suffix}")


def learn(binary, demos, catalog, suite="gmail", server="gmail"):
    (catalog / "mcp-servers").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / f"catalog/mcp-servers/{server}.json", catalog / f"mcp-servers/{server}.json")
    started = time.monotonic()
    out = run(binary, "learn", "--mcp-server", server, "--suite", suite,
              "--from", str(demos), "--catalog", str(catalog))
    wall = time.monotonic() - started
    inner = re.search(r"in ([0-9.]+) ms", out)
    return float(inner.group(1)) if inner else float("nan"), wall


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / "target/release/tracepipe"))
    args = parser.parse_args()
    all_scenarios = scenarios()
    hand = REPO / "catalog"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in (1, 2, 3):
            base = tmp / f"n{n}"
            picked = pick(all_scenarios, n)
            held = [name for name, _ in all_scenarios if name not in picked]
            stage(picked, base / "demos")
            stage(held, base / "held")
            learn_ms, _ = learn(args.binary, base / "demos", base / "catalog")
            learned_held = overall(run(args.binary, "eval", "--json", "--catalog", str(base / "catalog"), str(base / "held")))
            learned_alt = overall(run(args.binary, "eval", "--json", "--catalog", str(base / "catalog"), str(ALT)))
            hand_held = overall(run(args.binary, "eval", "--json", "--catalog", str(hand), str(base / "held")))
            hand_alt = overall(run(args.binary, "eval", "--json", "--catalog", str(hand), str(ALT)))
            rows.append((n, len(picked), len(held), learn_ms, learned_held, hand_held, learned_alt, hand_alt))
        # 50 demonstrations: the recordings with calls, repeated under new names.
        with_calls = [name for name, tools in all_scenarios if tools]
        fifty = tmp / "fifty" / "demos"
        fifty.mkdir(parents=True)
        for k in range(50):
            name = with_calls[k % len(with_calls)]
            stage([name], fifty, rename=lambda n, k=k: f"{n}_{k:02d}")
        fifty_ms, fifty_wall = learn(args.binary, fifty, tmp / "fifty" / "catalog")
        app_rows = []
        for suite, server in APPS:
            folder = REPO / f"tests/fixtures/recordings-{suite}"
            demos = scenarios(folder / "demos")
            tests = folder / "tests"
            for n in (1, 2, 3):
                base = tmp / f"{suite}{n}"
                picked = pick(demos, n)
                stage(picked, base / "demos", source=folder / "demos")
                ms, _ = learn(args.binary, base / "demos", base / "catalog", suite, server)
                scored = overall(run(args.binary, "eval", "--json", "--catalog", str(base / "catalog"),
                                     "--mcp-server", server, str(tests)))
                app_rows.append((suite, server, n, len(picked), len(demos), ms, scored))

    print("| demos/action | recordings learned from | held-out Gmail | learn (ms) "
          "| held-out Gmail F1 / exact: learned | hand-written "
          "| second client F1 / exact: learned | hand-written |")
    print("|---|---|---|---|---|---|---|---|")
    for n, picked, held, ms, lh, hh, la, ha in rows:
        print(f"| {n} | {picked} | {held} | {ms:.0f} | {lh[0]:.3f} / {lh[1]:.3f} | {hh[0]:.3f} / {hh[1]:.3f} "
              f"| {la[0]:.3f} / {la[1]:.3f} | {ha[0]:.3f} / {ha[1]:.3f} |")
    print(f"\nlearn on 50 demonstrations: {fifty_ms:.0f} ms in learn (leave-one-out included), "
          f"{fifty_wall:.2f} s for the whole command (reading the recordings included)")
    print("\n| application (MCP server) | demos/action | demonstrations learned from | learn (ms) "
          "| test sessions F1 / exact |")
    print("|---|---|---|---|---|")
    for suite, server, n, picked, available, ms, (f1, exact) in app_rows:
        print(f"| {suite} ({server}) | {n} | {picked} of {available} | {ms:.0f} | {f1:.3f} / {exact:.3f} |")


if __name__ == "__main__":
    main()
