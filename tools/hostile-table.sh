#!/usr/bin/env bash
# Runs the suite against every misbehaviour of the test-only hostile server
# (and the hostile requestor) and prints one table row per case: exit code,
# scenario verdicts, wall time and the harness's peak memory.
# Usage: bash tools/hostile-table.sh   (after cargo build --release)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/alq-harness" certs "$work/certs" >/dev/null
tls() {
    printf '\n[tls]\n'
    for k in ca:ca.pem client-cert:client.pem client-key:client.key other-cert:other-client.pem \
        other-key:other-client.key untrusted-cert:untrusted-client.pem untrusted-key:untrusted-client.key; do
        printf '%s = "%s"\n' "${k%%:*}" "$work/certs/${k#*:}"
    done
}
row() {
    local name=$1 profile=$2 start end code
    start=$(date +%s.%N)
    "$bin/alq-harness" run --target "$profile" --jobs 4 --skip-slow --reports "$work/reports" >"$work/out" 2>"$work/err"
    code=$?
    end=$(date +%s.%N)
    local report="$work/reports/$(sed -n 's/^name = "\(.*\)"/\1/p' "$profile")/report.json"
    python3 - "$name" "$code" "$start" "$end" "$report" "$work/err" <<'PY'
import json, sys
name, code, start, end, report, err = sys.argv[1:]
r = json.load(open(report))
c = r["scenario_counts"]
panics = open(err).read().count("panicked")
print(f"| {name} | {code} | {c['pass']} pass, {c['fail']} fail, {c['warn']} warn, {c['error']} error, {c['not_applicable']} n/a | {float(end) - float(start):.1f} s | {r['peak_rss_kb'] / 1024:.0f} MB | {panics} |")
PY
}
echo "| case | exit | scenarios | wall | peak RSS | panics |"
echo "|---|---|---|---|---|---|"
for mode in garbage huge-prefix endless slow reset tls-garbage plaintext-after-tls long-status; do
    "$bin/alq-hostile" serve --listen 127.0.0.1:0 --mode "$mode" >"$work/listen" &
    pid=$!
    while ! grep -q listening "$work/listen"; do sleep 0.1; done
    addr=$(sed -n 's/^listening on //p' "$work/listen")
    { sed -e "s/127.0.0.1:6790/$addr/" -e 's/"all-configured-query"\]/"all-configured-query", "secure"]/' \
        fixtures/targets/hostile.toml; tls; } >"$work/hostile.toml"
    row "$mode" "$work/hostile.toml"
    kill "$pid"; wait "$pid" 2>/dev/null
done
cat >"$work/cycles.toml" <<TOML
name = "cycles"
kind = "launch"
command = ["$bin/alq-hostile", "connect-cycles", "--server", "{addr}", "--cycles", "10000"]
features = ["active", "insecure", "bulk"]
expect-timeout = "2s"
slack = "500ms"
[timers]
bulk_data = "6s"
active_receive = "4s"
active_send = "4s"
active_idle = "2s"
TOML
row "10,000 connect/close cycles" "$work/cycles.toml"
