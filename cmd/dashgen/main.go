// Command dashgen writes the Grafana dashboards of deploy/grafana from code (grafana-foundation-sdk),
// on the metric names the collector writes to Prometheus. `make generate` runs it; the end-to-end tests
// run every panel query of the files it writes against a real Prometheus fed by the collector.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// panel is one graph: its title, unit and queries (legend: query).
type panel struct {
	title, unit, description string
	queries                  [][2]string
}

// sel is the selector of the overview's variables.
const sel = `job=~"$server", gen_ai_request_model=~"$model"`

var overview = []panel{
	{"Requests per second by outcome", "reqps", "inference.requests", [][2]string{{"{{inference_outcome}}", `sum by (inference_outcome) (rate(inference_requests_total{` + sel + `}[$__rate_interval]))`}}},
	{"Error ratio (5 % alert line)", "percentunit", "ratio processor: inference.requests.error_ratio", [][2]string{{"{{job}} {{gen_ai_request_model}}", `max by (job, gen_ai_request_model) (inference_requests_error_ratio{` + sel + `})`}, {"alert threshold", `vector(0.05)`}}},
	{"SLO ratio (requests within 10 s)", "percentunit", "ratio processor: inference.requests.slo_ratio", [][2]string{{"{{job}} {{gen_ai_request_model}}", `max by (job, gen_ai_request_model) (inference_requests_slo_ratio{` + sel + `})`}}},
	{"Request duration P50 / P95 / P99", "s", "gen_ai.server.request.duration", [][2]string{
		{"P50", `histogram_quantile(0.5, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P95", `histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P99", `histogram_quantile(0.99, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`},
	}},
	{"Time to first token P50 / P95 / P99", "s", "gen_ai.server.time_to_first_token", [][2]string{
		{"P50", `histogram_quantile(0.5, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P95", `histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P99", `histogram_quantile(0.99, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
	}},
	{"Time per output token P50 / P95 / P99", "s", "gen_ai.server.time_per_output_token (per request)", [][2]string{
		{"P50", `histogram_quantile(0.5, sum by (le) (rate(gen_ai_server_time_per_output_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P95", `histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_time_per_output_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"P99", `histogram_quantile(0.99, sum by (le) (rate(gen_ai_server_time_per_output_token_seconds_bucket{` + sel + `}[$__rate_interval])))`},
	}},
	{"Queue time P95", "s", "inference.request.queue.duration", [][2]string{{"P95", `histogram_quantile(0.95, sum by (le) (rate(inference_request_queue_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`}}},
	{"Running and queued requests", "short", "inference.requests.running, inference.requests.queued", [][2]string{
		{"running {{job}}", `sum by (job) (inference_requests_running{` + sel + `})`},
		{"queued {{job}}", `sum by (job) (inference_requests_queued{` + sel + `})`},
	}},
	{"KV-cache utilization", "percentunit", "inference.kv_cache.utilization", [][2]string{{"{{job}}", `max by (job) (inference_kv_cache_utilization_ratio{` + sel + `})`}}},
	{"Tokens per second", "short", "inference.tokens by gen_ai.token.type", [][2]string{{"{{gen_ai_token_type}}", `sum by (gen_ai_token_type) (rate(inference_tokens_total{` + sel + `}[$__rate_interval]))`}}},
	{"Requests per second by model", "reqps", "per-model view", [][2]string{{"{{gen_ai_request_model}}", `sum by (gen_ai_request_model) (rate(inference_requests_total{` + sel + `}[$__rate_interval]))`}}},
	{"Per-model summary", "short", "one row per model: requests/s, error ratio, P95 request duration, tokens/s (instant, merged)", [][2]string{
		{"requests/s", `sum by (gen_ai_request_model) (rate(inference_requests_total{` + sel + `}[$__rate_interval]))`},
		{"error ratio", `max by (gen_ai_request_model) (inference_requests_error_ratio{` + sel + `})`},
		{"P95 request duration (s)", `histogram_quantile(0.95, sum by (gen_ai_request_model, le) (rate(gen_ai_server_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`},
		{"tokens/s", `sum by (gen_ai_request_model) (rate(inference_tokens_total{` + sel + `}[$__rate_interval]))`},
	}},
	{"Servers up", "short", "inference.server.up", [][2]string{{"{{job}}", `inference_server_up{job=~"$server", inference_server_flavor=~"$flavor"}`}}},
	{"High-score ratio (scores above 0.8)", "percentunit", "ratio processor: inference.score.high_ratio", [][2]string{{"{{job}} {{gen_ai_request_model}}", `max by (job, gen_ai_request_model) (inference_score_high_ratio{` + sel + `})`}}},
	{"Probe pass ratio (90 % alert line)", "percentunit", "inference_probe checks, ratio processor: inference.probe.pass_ratio", [][2]string{{"{{inference_probe_name}}", `min by (inference_probe_name) (inference_probe_pass_ratio)`}, {"alert threshold", `vector(0.9)`}}},
	{"Probe latency P95 (as a client waits)", "s", "inference_probe: gen_ai.client.operation.duration", [][2]string{{"{{inference_probe_name}}", `histogram_quantile(0.95, sum by (inference_probe_name, le) (rate(gen_ai_client_operation_duration_seconds_bucket[$__rate_interval])))`}}},
}

const gpuSel = `hw_id=~"$gpu"`

var gpus = []panel{
	{"GPU utilization", "percentunit", "hw.gpu.utilization (general engine)", [][2]string{{"{{hw_id}}", `hw_gpu_utilization_ratio{` + gpuSel + `, hw_gpu_task="general"}`}}},
	{"GPU memory used and total", "bytes", "hw.gpu.memory.usage / .limit", [][2]string{{"used {{hw_id}}", `hw_gpu_memory_usage_bytes{` + gpuSel + `}`}, {"total {{hw_id}}", `hw_gpu_memory_limit_bytes{` + gpuSel + `}`}}},
	{"Power", "watt", "hw.power", [][2]string{{"{{hw_id}}", `hw_power_watts{` + gpuSel + `}`}}},
	{"Energy per second", "watt", "hw.energy", [][2]string{{"{{hw_id}}", `rate(hw_energy_joules_total{` + gpuSel + `}[$__rate_interval])`}}},
	{"Temperature", "celsius", "hw.temperature", [][2]string{{"{{hw_id}} {{hw_sensor_location}}", `hw_temperature_celsius{` + gpuSel + `}`}}},
	{"Clocks", "hertz", "hw.gpu.clock.frequency", [][2]string{{"{{hw_id}} {{hw_gpu_clock_type}}", `hw_gpu_clock_frequency_hertz{` + gpuSel + `}`}}},
	{"SM active and tensor pipe", "percentunit", "nvidia.gpu.sm.active, nvidia.gpu.pipe.active (NVML GPM or DCGM_FI_PROF_*)", [][2]string{{"SM active {{hw_id}}", `nvidia_gpu_sm_active_ratio{` + gpuSel + `}`}, {"tensor {{hw_id}}", `nvidia_gpu_pipe_active_ratio{` + gpuSel + `, nvidia_gpu_pipe="tensor"}`}}},
	{"Throttle reasons", "short", "nvidia.gpu.clock_event.active (NVML)", [][2]string{{"{{hw_id}} {{nvidia_gpu_clock_event_reason}}", `nvidia_gpu_clock_event_active_ratio{` + gpuSel + `} == 1`}}},
	{"Xid errors", "short", "hw.errors error.type=xid (NVML events)", [][2]string{{"{{hw_id}} Xid {{nvidia_gpu_xid}}", `increase(hw_errors_total{` + gpuSel + `, error_type="xid"}[$__rate_interval])`}}},
	{"Health", "short", "hw.status (NVML): the state that is 1", [][2]string{{"{{hw_id}} {{hw_state}}", `hw_status{` + gpuSel + `} == 1`}}},
	{"GPU memory per process, by model server", "bytes", "nvidia.gpu.process.memory.usage joined to the servers (NVML)", [][2]string{{"{{inference_server_name}} pid {{process_pid}}", `nvidia_gpu_process_memory_usage_bytes{` + gpuSel + `}`}}},
}

var collector = []panel{
	{"Scrape duration per server", "s", "inference.server.scrape.duration", [][2]string{{"{{job}}", `inference_server_scrape_duration_seconds`}}},
	{"Failed scrapes per server, by kind", "short", "inference.server.scrape.errors", [][2]string{{"{{job}} {{error_type}}", `increase(inference_server_scrape_errors_total[$__rate_interval])`}}},
	{"Series dropped by the receiver", "short", "otelcol_receiver_inference_series_dropped", [][2]string{{"{{server}} {{reason}}", `increase(otelcol_receiver_inference_series_dropped[$__rate_interval])`}}},
	{"Remote-write queue length", "short", "otelcol_exporter_remote_write_queue_length", [][2]string{{"batches", `otelcol_exporter_remote_write_queue_length`}}},
	{"Remote-write samples sent", "short", "otelcol_exporter_remote_write_samples_sent", [][2]string{{"sent", `rate(otelcol_exporter_remote_write_samples_sent[$__rate_interval])`}}},
	{"Remote-write samples dropped, by reason", "short", "otelcol_exporter_remote_write_samples_dropped", [][2]string{{"{{reason}}", `increase(otelcol_exporter_remote_write_samples_dropped[$__rate_interval])`}}},
	{"Remote-write retries, by reason", "short", "otelcol_exporter_remote_write_retries", [][2]string{{"{{reason}}", `increase(otelcol_exporter_remote_write_retries[$__rate_interval])`}}},
}

func main() {
	out := flag.String("out", "deploy/grafana", "where to write the dashboards")
	flag.Parse()
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	boards := map[string]*dashboard.DashboardBuilder{
		"inference-overview.json": board("otelcol-inference-overview", "Inference overview", ds, overview,
			variable("server", "Server", `label_values(inference_server_up, job)`, ds),
			variable("model", "Model", `label_values(inference_requests_total, gen_ai_request_model)`, ds),
			variable("flavor", "Flavor", `label_values(inference_server_up, inference_server_flavor)`, ds)),
		"inference-gpus.json": board("otelcol-inference-gpus", "Inference GPUs", ds, gpus,
			variable("gpu", "GPU", `label_values(hw_gpu_memory_limit_bytes, hw_id)`, ds)),
		"inference-collector.json": board("otelcol-inference-collector", "Inference collector", ds, collector),
	}
	for file, b := range boards {
		d, err := b.Build()
		if err != nil {
			log.Fatalf("%s: %v", file, err)
		}
		js, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, file), append(js, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func variable(name, label, query string, ds common.DataSourceRef) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).Datasource(ds).
		IncludeAll(true).AllValue(".*").Multi(true).Refresh(dashboard.VariableRefreshOnTimeRangeChanged)
}

func board(uid, title string, ds common.DataSourceRef, panels []panel, vars ...*dashboard.QueryVariableBuilder) *dashboard.DashboardBuilder {
	b := dashboard.NewDashboardBuilder(title).Uid(uid).Tags([]string{"otelcol-inference"}).
		Refresh("30s").Time("now-1h", "now").Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus"))
	for _, v := range vars {
		b = b.WithVariable(v)
	}
	for _, p := range panels {
		if tables[p.title] {
			b = b.WithPanel(tablePanel(p, ds))
			continue
		}
		pb := timeseries.NewPanelBuilder().Title(p.title).Description(p.description).Unit(p.unit).
			Datasource(ds).Span(12).Height(8)
		for _, q := range p.queries {
			pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Expr(q[1]).LegendFormat(q[0]).Range())
		}
		b = b.WithPanel(pb)
	}
	return b
}

// tables are the panels drawn as a table: one instant query per column, merged on their labels.
var tables = map[string]bool{"Per-model summary": true}

func tablePanel(p panel, ds common.DataSourceRef) *table.PanelBuilder {
	tb := table.NewPanelBuilder().Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(ds).Span(24).Height(8).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	for i, q := range p.queries {
		tb = tb.WithTarget(prometheus.NewDataqueryBuilder().Expr(q[1]).LegendFormat(q[0]).
			RefId(string(rune('A' + i))).Instant().Format(prometheus.PromQueryFormatTable))
	}
	return tb
}
