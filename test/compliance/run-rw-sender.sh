#!/usr/bin/env bash
# Runs the Prometheus remote-write sender compliance suite (prometheus/compliance, remotewrite/sender)
# against otelcol-inference, beside Prometheus 3 as the baseline, the way Prometheus runs it.
#   test/compliance/run-rw-sender.sh PATH_TO_PROMETHEUS_COMPLIANCE_CHECKOUT
# Environment: OTELCOL_INFERENCE_BIN (default build/otelcol-inference), PROMETHEUS_LOCAL_BIN (a
# Prometheus 3 binary for the baseline; default the one `make prometheus3` builds; the suite would
# otherwise download one from GitHub). The suite is not on the Go module proxy, so it is not part of
# `make test`; its results are in BENCHMARKS.md.
set -euo pipefail
suite=${1:?path to a checkout of github.com/prometheus/compliance}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${OTELCOL_INFERENCE_BIN:-$root/build/otelcol-inference}
prom=${PROMETHEUS_LOCAL_BIN:-$(go env GOPATH)/bin/prometheus-v0.316.0/prometheus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$suite/remotewrite/sender" "$work/"
cd "$work/sender"
sed '/^\/\/go:build ignore$/d' "$root/test/compliance/rw_sender_target.go" > targets/otelcol_inference.go
# The baseline from a local binary, not a download.
python3 - <<'PY'
import re
p='targets/prometheus.go'
s=open(p).read()
s=s.replace('''	binary, err := downloadBinary(prometheusDownloadURL, "prometheus")
	if err != nil {
		return err
	}
''','''	binary := os.Getenv("PROMETHEUS_LOCAL_BIN")
	if binary == "" {
		var err error
		binary, err = downloadBinary(prometheusDownloadURL, "prometheus")
		if err != nil {
			return err
		}
	}
''')
open(p,'w').write(s)
p='main_test.go'
s=open(p).read()
s=s.replace('"prometheus": targets.RunPrometheus,','"prometheus": targets.RunPrometheus,\n\t\t"otelcol-inference": targets.RunOtelcolInference,')
open(p,'w').write(s)
PY
OTELCOL_INFERENCE_BIN=$bin PROMETHEUS_LOCAL_BIN=$prom GOFLAGS=-mod=mod go test -count=1 -v -timeout 60m ${COMPLIANCE_RUN:+-run "$COMPLIANCE_RUN"} . > "$work/log" 2>&1 || true
cp "$work/log" "${COMPLIANCE_LOG:-$root/build/rw-sender-compliance.log}"
# Each test per sender, and each check a test makes under it (…/SENDER/…): the suite's subtests.
for target in prometheus otelcol-inference; do
  pass=$(grep -cE "^\s+--- PASS: \S*/$target( |/)" "$work/log" || true)
  fail=$(grep -cE "^\s+--- FAIL: \S*/$target( |/)" "$work/log" || true)
  echo "$target: $pass passed, $fail failed (tests and their subtests)"
  grep -E "^\s+--- FAIL: \S*/$target( |/)" "$work/log" | sed 's/^ */  /' || true
done
