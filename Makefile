# otelcol-inference: see README.md. Everything a fresh Debian 12 machine with Go 1.26 needs is
# fetched by these targets (Go modules and tools through `go tool`, Prometheus with apt-get).

SHELL      := /bin/bash
# go-nvml's cgo prologue uses NVML calls the header marks deprecated; the warnings are noise.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
GO         ?= go
BUILD_DIR  := build
BIN        := $(BUILD_DIR)/otelcol-inference
# The lean agent build (builder-config-agent.yaml): the agent role's components only, for hosts
# (tag inference_nokube: no Kubernetes client, so no Kubernetes discovery).
AGENT_BIN  := $(BUILD_DIR)/otelcol-inference-agent
TOOLS_MOD  := internal/tools/go.mod
PROMETHEUS ?= $(shell command -v prometheus 2>/dev/null || echo /usr/bin/prometheus)
# Prometheus 3 (OTLP receiver) for the OTLP-backend test, in a folder of its own under GOPATH/bin so
# that it never shadows Debian's prometheus on PATH.
PROMETHEUS3_VERSION := v0.316.0
PROMETHEUS3 ?= $(shell $(GO) env GOPATH)/bin/prometheus-$(PROMETHEUS3_VERSION)/prometheus
# helm for the chart's lint and render tests, pinned, in a folder of its own under GOPATH/bin.
HELM_VERSION := v3.22.0
HELM ?= $(shell $(GO) env GOPATH)/bin/helm-$(HELM_VERSION)/helm
CHART := deploy/helm/otelcol-inference
GENERATED  := receiver/inferencereceiver receiver/inferenceprobereceiver processor/ratioprocessor exporter/remotewriteexporter otelcol-dist otelcol-dist-agent internal/names deploy/grafana

.PHONY: vulncheck vmagent bench-vmagent helm chart-lint manifests prometheus3 rules-test gpu-check reliability all run demo build generate generate-dist check-generated test unit e2e bench bench-smoke lint fmt prometheus clean

all: build

## run: the collector on its embedded default configuration (finds this host's model servers)
run: build
	./$(BIN)

## demo: a replayed vLLM on 127.0.0.1:8000 with advancing counters, started as `vllm serve` so that
## the collector's zero-configuration discovery finds it
demo: build
	@mkdir -p $(BUILD_DIR)/demo && $(GO) build -o $(BUILD_DIR)/demo/vllm ./cmd/replay
	@set -m; ./$(BUILD_DIR)/demo/vllm serve facebook/opt-125m --port 8000 2>/dev/null & replay=$$!; \
	trap 'kill $$replay 2>/dev/null' EXIT INT TERM; \
	echo; echo "Replayed vLLM (process: vllm serve facebook/opt-125m --port 8000): http://127.0.0.1:8000/metrics"; \
	echo "Collector output, unified metrics and ratios: curl -s 127.0.0.1:8889/metrics | grep -E '^(inference|gen_ai)'"; \
	echo "Health: curl -s 127.0.0.1:13133/   (Ctrl-C stops both)"; echo; \
	./$(BIN)

## build: the distribution binary (from the committed ocb sources in otelcol-dist/)
build:
	cd otelcol-dist && CGO_ENABLED=1 $(GO) build -trimpath -ldflags="-s -w" -o ../$(BIN) .
	cd otelcol-dist-agent && CGO_ENABLED=1 $(GO) build -trimpath -tags inference_nokube -ldflags="-s -w" -o ../$(AGENT_BIN) .

## generate: metric descriptors (cmd/schemagen), mdatagen for our components, ocb sources for the distribution
## The receiver's metadata.yaml declares histograms, which mdatagen v0.159 documents but cannot build:
## its code comes from a copy where histograms read as gauges (their switches kept, their Record
## methods unused); its documentation.md from the real file.
generate:
	cd receiver/inferencereceiver && $(GO) run ../../cmd/schemagen -metadata metadata.yaml -out ../../internal/names/generated_metrics.go -codegen metadata.codegen.yaml
	cd receiver/inferencereceiver && $(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.codegen.yaml && \
		tmp=$$(mktemp -d) && cp internal/metadata/generated_metrics.go internal/metadata/generated_metrics_test.go $$tmp/ && \
		$(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.yaml && \
		cp $$tmp/generated_metrics.go $$tmp/generated_metrics_test.go internal/metadata/ && rm -rf $$tmp metadata.codegen.yaml
	cd receiver/inferenceprobereceiver && $(GO) run ../../cmd/schemagen -metadata metadata.yaml -out ../../internal/names/generated_probe_metrics.go -all Probe -codegen metadata.codegen.yaml
	cd receiver/inferenceprobereceiver && $(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.codegen.yaml && \
		tmp=$$(mktemp -d) && cp internal/metadata/generated_metrics.go internal/metadata/generated_metrics_test.go $$tmp/ && \
		$(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.yaml && \
		cp $$tmp/generated_metrics.go $$tmp/generated_metrics_test.go internal/metadata/ && rm -rf $$tmp metadata.codegen.yaml
	cd processor/ratioprocessor && $(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.yaml
	cd exporter/remotewriteexporter && $(GO) tool -modfile=../../$(TOOLS_MOD) mdatagen metadata.yaml
	$(GO) run ./cmd/dashgen
	$(MAKE) generate-dist

generate-dist:
	$(GO) tool -modfile=$(TOOLS_MOD) builder --config builder-config.yaml --skip-compilation
	$(GO) tool -modfile=$(TOOLS_MOD) builder --config builder-config-agent.yaml --skip-compilation
	gofmt -w otelcol-dist/*.go otelcol-dist-agent/*.go

## check-generated: fails when generating changes any file (committed or not) under the generated paths
check-generated:
	@state() { git diff HEAD -- $(GENERATED); git ls-files -o --exclude-standard -- $(GENERATED) | xargs -r cat; }; \
	before=$$(state | sha256sum); \
	$(MAKE) --no-print-directory generate >/dev/null 2>&1 || { echo "make generate failed"; $(MAKE) generate; exit 1; }; \
	after=$$(state | sha256sum); \
	if [ "$$before" != "$$after" ]; then \
		echo "Generated files were out of date; 'make generate' rewrote them (review and commit):"; \
		git status --porcelain -- $(GENERATED); exit 1; \
	fi; echo "generated files up to date"

## test: generated-file check, unit tests, the distribution build, the vulnerability check, the
## end-to-end tests and a short run of the benchmark harness (it proves the harness works; its
## figures mean nothing)
test: lint unit build vulncheck prometheus rules-test chart-lint bench-smoke e2e

## rules-test: the shipped Prometheus rules parse, and each alert fires when it should and not else
rules-test: prometheus
	promtool check rules deploy/prometheus/inference-rules.yaml
	cd deploy/prometheus && promtool test rules inference-rules_test.yaml

unit:
	$(GO) test -count=1 ./...

e2e: build prometheus prometheus3 helm
	E2E_REQUIRED=1 OTELCOL_INFERENCE_BIN=$(CURDIR)/$(BIN) OTELCOL_INFERENCE_AGENT_BIN=$(CURDIR)/$(AGENT_BIN) PROMETHEUS_BIN=$(PROMETHEUS) PROMETHEUS3_BIN=$(PROMETHEUS3) HELM_BIN=$(HELM) \
		$(GO) test -count=1 -v -timeout 15m ./test/e2e/...

## bench: Go benchmarks, then the whole-process comparison with contrib's prometheusreceiver and the
## 1,000-server scale run (about 20 minutes); the report goes to build/bench-report.md
bench: build prometheus
	$(GO) test -run NONE -bench . -benchtime 2s ./receiver/inferencereceiver/internal/convert/ ./processor/ratioprocessor/ | tee $(BUILD_DIR)/bench-go.txt
	$(GO) build -o $(BUILD_DIR)/benchharness ./cmd/benchharness
	./$(BUILD_DIR)/benchharness -bin $(BIN) -prometheus $(PROMETHEUS) -scale -out $(BUILD_DIR)/bench-report.md

bench-smoke: build
	$(GO) build -o $(BUILD_DIR)/benchharness ./cmd/benchharness
	./$(BUILD_DIR)/benchharness -bin $(BIN) -payloads vllm -pairs 1 -targets 2 -warmup 5s -measure 5s

## reliability: the durability scenario with our remote_write and with contrib's exporter, side by side
reliability: build prometheus
	RELIABILITY=1 E2E_REQUIRED=1 OTELCOL_INFERENCE_BIN=$(CURDIR)/$(BIN) PROMETHEUS_BIN=$(PROMETHEUS) \
		$(GO) test -count=1 -v -timeout 15m -run 'TestDurabilityBackendOutageAndCrash|TestReliabilityContribExporter' ./test/e2e/ | grep -E 'RELIABILITY|remote_write:|^(---|ok|FAIL)'

## gpu-check: on a machine with an NVIDIA GPU, the GPU reader against the real driver (a small binary;
## carry build/gpucheck and scripts/ to the device machine and run scripts/gpu-check.sh there)
gpu-check:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags="-s -w" -o $(BUILD_DIR)/gpucheck ./receiver/inferencereceiver/internal/gpu/gpucheck
	@ls -la $(BUILD_DIR)/gpucheck
	@if command -v nvidia-smi >/dev/null 2>&1; then scripts/gpu-check.sh $(BUILD_DIR)/gpucheck; \
	else echo "no NVIDIA GPU here: built $(BUILD_DIR)/gpucheck; run scripts/gpu-check.sh on a GPU machine"; fi

## vulncheck: govulncheck (pinned) on the distribution, offline, with the Go vulnerability database
## built from the golang.org/x/vulndb module (pinned; from the module proxy); fails on a vulnerable
## symbol the distribution calls in a module. The standard library's are listed with the Go release
## that fixes them (it comes with the toolchain, the machine's Go): VULNCHECK_STDLIB=fail fails on
## those too.
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
GOVULNCHECK := $(shell $(GO) env GOPATH)/bin/govulncheck-$(GOVULNCHECK_VERSION)/govulncheck
VULNDB_TOOLS := $(shell $(GO) env GOPATH)/bin/vulndb-$(VULNDB_VERSION)
VULNDB := $(shell $(GO) env GOPATH)/pkg/vulndb-$(VULNDB_VERSION)
VULNCHECK_STDLIB ?= warn
vulncheck:
	@test -x $(GOVULNCHECK) || GOBIN=$(dir $(GOVULNCHECK)) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@test -x $(VULNDB_TOOLS)/indexdb || GOBIN=$(VULNDB_TOOLS) $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
	@test -f $(VULNDB)/index/db.json || { src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
		test -d "$$src/data/osv" && rm -rf $(VULNDB).tmp && $(VULNDB_TOOLS)/indexdb -vulns "$$src/data/osv" -out $(VULNDB).tmp && mv $(VULNDB).tmp $(VULNDB); }
	$(GO) build -o $(BUILD_DIR)/vulngate ./cmd/vulngate
	cd otelcol-dist && $(GOVULNCHECK) -format json -db file://$(VULNDB) . | ../$(BUILD_DIR)/vulngate -stdlib=$(VULNCHECK_STDLIB)

## prometheus: Debian's prometheus and prometheus-alertmanager packages (the remote-write backend
## and the alert delivery of the end-to-end tests)
prometheus:
	@missing=""; command -v prometheus >/dev/null 2>&1 || missing="prometheus"; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian's$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@prometheus --version 2>&1 | head -1
	@prometheus-alertmanager --version 2>&1 | head -1

## prometheus3: Prometheus 3 from the module proxy (the OTLP backend of the end-to-end tests; ~4 min once)
helm:
	@test -x $(HELM) || { echo "Building helm $(HELM_VERSION) (once, about a minute)"; \
		GOBIN=$(dir $(HELM)) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }

## chart-lint: helm lint --strict of the chart (its rendering, strict decoding into Kubernetes types
## and `validate` of the embedded collector configs are end-to-end tests: test/e2e/helm_test.go)
chart-lint: helm
	$(HELM) lint --strict $(CHART)

## manifests: the chart rendered with its defaults, for users without helm (a test keeps it current).
## helm makes the gateways' token and certificate itself; rendered, they are Secrets to create first
## (deploy/kubernetes/README: the two kubectl commands), so that no secret is committed.
MANIFEST_SETS := --set gateway.auth.existingSecret=otelcol-inference-ingest-token --set gateway.tls.existingSecret=otelcol-inference-gateway-tls
manifests: helm
	{ echo "# Rendered from $(CHART) with its default values by \`make manifests\` (helm template"; \
	  echo "# otelcol-inference --namespace observability $(MANIFEST_SETS))."; \
	  echo "# Create the two Secrets first: see deploy/kubernetes/README.md. Edit the chart, not this file."; \
	  $(HELM) template otelcol-inference $(CHART) --namespace observability $(MANIFEST_SETS); } > deploy/kubernetes/otelcol-inference.yaml

## vmagent (VictoriaMetrics v1.151.0) for the benchmark harness's comparison (make bench-vmagent)
VMAGENT ?= $(shell $(GO) env GOPATH)/bin/vmagent-v1.151.0/vmagent
vmagent:
	@test -x $(VMAGENT) || GOBIN=$(dir $(VMAGENT)) $(GO) install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@v1.151.0

## bench-vmagent: our two builds and vmagent, scrape → remote write into one Prometheus (about 8 minutes)
bench-vmagent: build prometheus vmagent
	$(GO) build -o $(BUILD_DIR)/benchharness ./cmd/benchharness
	./$(BUILD_DIR)/benchharness -payloads "" -vmagent $(VMAGENT) -prometheus $(PROMETHEUS) -pairs 3 -out $(BUILD_DIR)/bench-vmagent.md

prometheus3:
	@test -x $(PROMETHEUS3) || { echo "Building Prometheus 3 $(PROMETHEUS3_VERSION) (once, a few minutes)"; \
		GOBIN=$(dir $(PROMETHEUS3)) $(GO) install github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS3_VERSION); }
	@$(PROMETHEUS3) --version 2>&1 | head -1

## lint: generated files up to date, then golangci-lint (.golangci.yml: vet, staticcheck, errcheck, revive, gocritic, errorlint, gosec, testifylint, misspell, unparam; gofumpt and goimports)
lint: check-generated
	$(GO) tool -modfile=$(TOOLS_MOD) golangci-lint run ./...

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '/generated_')

clean:
	rm -rf $(BUILD_DIR)
