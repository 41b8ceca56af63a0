// Package schema owns the mapping tables from what each model server exposes to the receiver's one
// schema (OTel GenAI semantic conventions first, inference.* for what they lack). A flavor is data:
// a list of rules, each naming the exposed families it reads and how labels become attributes.
// Nothing here parses or builds pdata.
package schema // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"

import "sort"

// Names of the unified metrics and attributes.
const (
	MetricRequestDuration    = "gen_ai.server.request.duration"
	MetricTimeToFirstToken   = "gen_ai.server.time_to_first_token"
	MetricTimePerOutputToken = "gen_ai.server.time_per_output_token"
	MetricRequests           = "inference.requests"
	MetricRequestsRunning    = "inference.requests.running"
	MetricRequestsQueued     = "inference.requests.queued"
	MetricTokens             = "inference.tokens"
	MetricKVCacheUtilization = "inference.kv_cache.utilization"

	AttrModel        = "gen_ai.request.model"
	AttrTokenType    = "gen_ai.token.type"
	AttrOutcome      = "inference.outcome"
	AttrFinishReason = "inference.finish_reason"
	AttrErrorType    = "error.type"

	OutcomeSuccess = "success"
	OutcomeError   = "error"
	OutcomeAborted = "aborted"
)

// Kind is the OTLP shape of a unified metric.
type Kind uint8

const (
	// Sum is a cumulative monotonic sum (from a Prometheus counter).
	Sum Kind = iota + 1
	// Gauge is a gauge.
	Gauge
	// Histogram is an explicit-bucket histogram.
	Histogram
)

// Rename turns one exposed label into an attribute of another name.
type Rename struct {
	Label, Attribute string
}

// Outcome derives inference.outcome from one exposed label. The label's value also stays on the point
// under KeepAs (when set), so nothing the server said is lost.
type Outcome struct {
	Label string
	// Values maps label values to outcomes; any other value is Default.
	Values  map[string]string
	Default string
	KeepAs  string
}

// Rule maps one unified metric from the first of its source families present in a payload.
type Rule struct {
	// Sources are exposed family names in order of preference (newest server versions first). Only the
	// first one present is mapped; the others pass through under their own names.
	Sources []string
	Metric  string
	Kind    Kind
	Unit    string
	// Scale multiplies values (and histogram bounds and sums), e.g. 1e-6 for microseconds → seconds.
	// Zero means 1.
	Scale   float64
	Renames []Rename
	Outcome *Outcome
	// Static attributes added to every point of this rule.
	Static [][2]string
}

// Flavor is one kind of server: its name and its rules.
type Flavor struct {
	Name  string
	Rules []Rule
}

// Units of the unified metrics, for passthrough-free documentation and tests.
var descriptions = map[string]string{
	MetricRequestDuration:    "Time from the request's arrival to its last response token.",
	MetricTimeToFirstToken:   "Time from the request's arrival to its first output token.",
	MetricTimePerOutputToken: "Time between consecutive output tokens of a request.",
	MetricRequests:           "Finished requests, by outcome (success, error, aborted).",
	MetricRequestsRunning:    "Requests being processed now.",
	MetricRequestsQueued:     "Requests waiting to be scheduled now.",
	MetricTokens:             "Tokens processed, by gen_ai.token.type (input = prompt, output = generated).",
	MetricKVCacheUtilization: "Fraction of the KV cache in use, 0..1.",
}

// Description is the description of a unified metric.
func Description(metric string) string { return descriptions[metric] }

var modelName = Rename{Label: "model_name", Attribute: AttrModel}

// vllmOutcome: vLLM labels finished requests with finished_reason stop, length, abort (and error in
// newer versions). Every reason other than abort and error is a normal finish.
var vllmOutcome = &Outcome{
	Label:   "finished_reason",
	Values:  map[string]string{"abort": OutcomeAborted, "error": OutcomeError},
	Default: OutcomeSuccess,
	KeepAs:  AttrFinishReason,
}

// VLLM covers vLLM's v0 and v1 engines. Where v1 renamed a family, the v1 name comes first.
var VLLM = Flavor{
	Name: "vllm",
	Rules: []Rule{
		{Sources: []string{"vllm:e2e_request_latency_seconds"}, Metric: MetricRequestDuration, Kind: Histogram, Unit: "s", Renames: []Rename{modelName}},
		{Sources: []string{"vllm:time_to_first_token_seconds"}, Metric: MetricTimeToFirstToken, Kind: Histogram, Unit: "s", Renames: []Rename{modelName}},
		{Sources: []string{"vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"}, Metric: MetricTimePerOutputToken, Kind: Histogram, Unit: "s", Renames: []Rename{modelName}},
		{Sources: []string{"vllm:request_success_total"}, Metric: MetricRequests, Kind: Sum, Unit: "{request}", Renames: []Rename{modelName}, Outcome: vllmOutcome},
		{Sources: []string{"vllm:num_requests_running"}, Metric: MetricRequestsRunning, Kind: Gauge, Unit: "{request}", Renames: []Rename{modelName}},
		{Sources: []string{"vllm:num_requests_waiting"}, Metric: MetricRequestsQueued, Kind: Gauge, Unit: "{request}", Renames: []Rename{modelName}},
		{Sources: []string{"vllm:prompt_tokens_total"}, Metric: MetricTokens, Kind: Sum, Unit: "{token}", Renames: []Rename{modelName}, Static: [][2]string{{AttrTokenType, "input"}}},
		{Sources: []string{"vllm:generation_tokens_total"}, Metric: MetricTokens, Kind: Sum, Unit: "{token}", Renames: []Rename{modelName}, Static: [][2]string{{AttrTokenType, "output"}}},
		{Sources: []string{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}, Metric: MetricKVCacheUtilization, Kind: Gauge, Unit: "1", Renames: []Rename{modelName}},
	},
}

// Prometheus is a generic exporter: nothing is mapped, everything passes through.
var Prometheus = Flavor{Name: "prometheus"}

var flavors = map[string]*Flavor{
	VLLM.Name:       &VLLM,
	Prometheus.Name: &Prometheus,
}

// Lookup returns the flavor of that name, or nil.
func Lookup(name string) *Flavor { return flavors[name] }

// Names lists the known flavors, sorted.
func Names() []string {
	out := make([]string, 0, len(flavors))
	for n := range flavors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
