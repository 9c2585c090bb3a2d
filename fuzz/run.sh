#!/usr/bin/env bash
# Runs one fuzz target until it has used a budget of CPU time (not wall
# time: on a shared machine the two differ a lot), then stops it and prints
# what it did. docs/fuzzing.md says how to build the targets first.
#
#   fuzz/run.sh TARGET CPU_MINUTES [OUT_DIR]
#
# TARGET is chrome_json, perfetto, input_events or session_avro. The run
# starts from fuzz/corpus/TARGET, or resumes OUT_DIR when it already holds a
# run. OUT_DIR (default /tmp/tracepipe-fuzz/TARGET) gets AFL's output; copy
# only minimised inputs back into the repository.
set -euo pipefail

target=${1:?"usage: fuzz/run.sh TARGET CPU_MINUTES [OUT_DIR]"}
minutes=${2:?"usage: fuzz/run.sh TARGET CPU_MINUTES [OUT_DIR]"}
out=${3:-/tmp/tracepipe-fuzz/$target}
here=$(cd "$(dirname "$0")" && pwd)
binary=${CARGO_TARGET_DIR:-$here/../target}/release/$target
[ -x "$binary" ] || { echo "no $binary: build it with cargo afl build --release -p tracepipe-fuzz --features afl" >&2; exit 1; }

# In a container: the CPU frequency governor is not readable (AFL would
# refuse to start), core dumps are not piped to a crash reporter AFL could
# check, and pinning to a core would fight the other jobs on the machine.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
# No curses screen: the output is a log.
export AFL_NO_UI=1

input=$here/corpus/$target
if [ -f "$out/default/fuzzer_stats" ]; then
  input=-   # resume the earlier run
fi
mkdir -p "$out"
# -t: an input that takes more than a second is a hang. -m: a reader that
# allocates in proportion to a length field in the input crashes at 512 MB
# of address space instead of swapping.
nice -n 19 cargo afl fuzz -i "$input" -o "$out" -t 1000 -m 512 -- "$binary" >"$out/afl.log" 2>&1 &
root=$!

# CPU seconds used by the run so far: every process of its tree, with the
# children each has reaped (AFL restarts the target after a crash).
cpu_seconds() {
  local ticks=0 pids=("$root") pid fields
  local hz
  hz=$(getconf CLK_TCK)
  while [ ${#pids[@]} -gt 0 ]; do
    pid=${pids[0]}
    pids=("${pids[@]:1}")
    if read -r -a fields 2>/dev/null <"/proc/$pid/stat"; then
      # Fields 14-17 (utime, stime, cutime, cstime), after a `comm` without spaces.
      ticks=$((ticks + fields[13] + fields[14] + fields[15] + fields[16]))
    fi
    for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
      pids+=("$child")
    done
  done
  echo $((ticks / hz))
}

budget=$((minutes * 60))
used=0
while kill -0 "$root" 2>/dev/null; do
  used=$(cpu_seconds)
  [ "$used" -ge "$budget" ] && break
  sleep 10
done
# SIGINT to afl-fuzz (the child of `cargo afl`): AFL writes its final stats
# and stops the target, and `cargo afl` returns.
for child in $(cat "/proc/$root/task/"*/children 2>/dev/null); do
  kill -INT "$child" 2>/dev/null || true
done
wait "$root" || true
stats=$out/default/fuzzer_stats
echo "$target: $used CPU seconds"
if [ -f "$stats" ]; then
  grep -E '^(execs_done|execs_per_sec|corpus_count|corpus_found|saved_crashes|saved_hangs|bitmap_cvg|edges_found|total_edges|stability)\b' "$stats"
fi
