#!/usr/bin/env bash
# The real-time suite against the reference server as a separate process with
# its timers divided by 20: one row per run with the suite's duration, the
# bound no schedule can beat (the larger of its longest scenario and the sum
# of its scenarios' times divided by --jobs) and their ratio, all from the
# same report.json. The server is started afresh and the reports folder
# emptied before each run, so no earlier report tells the harness how long a
# scenario takes.
# Usage: bash tools/suite-time.sh [RUNS] [JOBS]   (after cargo build --release)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
jobs=${2:-4}
bin=target/release/alq-harness
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
echo "| run | --jobs | suite | longest scenario | sum / jobs | bound | suite / bound |"
echo "|---|---|---|---|---|---|---|"
for run in $(seq 1 "$runs"); do
    "$bin" serve --config fixtures/targets/reference-process.serve.toml --timer-scale 20 \
        >"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/16767) 2>/dev/null && break
        sleep 0.1
    done
    rm -rf "$work/reports"
    "$bin" run --jobs "$jobs" --target fixtures/targets/reference-process.toml \
        --reports "$work/reports" >"$work/out" 2>&1
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=
    python3 - "$run" "$jobs" "$work/reports/reference-process/report.json" "$work/out" <<'PY'
import json, sys
run, jobs, report, out = sys.argv[1:]
r = json.load(open(report))
ran = [s for s in r["scenarios"] if s["verdict"] != "not-applicable"]
longest = max(ran, key=lambda s: s.get("elapsed_ms", 0))
share = sum(s.get("elapsed_ms", 0) for s in ran) / int(jobs)
bound = max(longest["elapsed_ms"], share)
c = r["scenario_counts"]
if c.get("fail") or c.get("error"):
    sys.exit(f"run {run}: not every scenario passed: {c}\n" + open(out).read()[-2000:])
print(f"| {run} | {jobs} | {r['duration_ms'] / 1000:.1f} s | {longest['elapsed_ms'] / 1000:.1f} s"
      f" ({longest['id']}) | {share / 1000:.1f} s | {bound / 1000:.1f} s | {r['duration_ms'] / bound:.3f} |")
PY
done
