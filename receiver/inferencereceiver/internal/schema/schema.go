// Package schema owns the mapping tables from what each model server exposes to the receiver's one
// schema (OTel GenAI semantic conventions first, inference.* for what they lack). A flavor is data:
// a list of rules, each naming the exposed families it reads and how labels become attributes.
// Nothing here parses or builds pdata.
package schema // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"

import (
	"math"
	"sort"
	"strings"

	"github.com/otel-inference/collector/internal/names"
)

// Attribute names and outcomes (declared once, in internal/names).
const (
	AttrModel        = names.AttrGenAIRequestModel
	AttrModelVersion = names.AttrModelVersion
	AttrTokenType    = names.AttrGenAITokenType
	AttrOutcome      = names.AttrOutcome
	AttrFinishReason = names.AttrFinishReason
	AttrErrorType    = names.AttrErrorType
	AttrMemoryKind   = names.AttrMemoryKind
	AttrTokenCached  = names.AttrTokenCached

	OutcomeSuccess = names.OutcomeSuccess
	OutcomeError   = names.OutcomeError
	OutcomeAborted = names.OutcomeAborted
)

// Kind is the OTLP shape of a unified metric.
type Kind uint8

const (
	// AsExposed keeps the exposed family's own shape (counter → sum, gauge → gauge, histogram →
	// histogram); used by user-configured mappings.
	AsExposed Kind = iota
	// Sum is a cumulative monotonic sum (from a Prometheus counter).
	Sum
	// UpDownSum is a cumulative non-monotonic sum (semconv's UpDownCounters, e.g. memory in use).
	UpDownSum
	// Gauge is a gauge.
	Gauge
	// Histogram is an explicit-bucket histogram.
	Histogram
)

// Part says which part of an exposed family a rule reads.
type Part uint8

const (
	// PartValue reads the family as it is.
	PartValue Part = iota
	// PartHistogramSum reads the _sum of a histogram as a cumulative counter, e.g. TGI's total input
	// tokens from the sum of its per-request input-length histogram.
	PartHistogramSum
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
	// Metric is the declared metric the rule feeds (metadata.yaml, through internal/names). A user's
	// mapping to a name not declared there has only Name and Unit set, and keeps the exposed shape.
	Metric names.Metric
	Part   Part
	// Scale multiplies values (and histogram bounds and sums), e.g. 1<<20 for MiB → bytes; Div
	// divides them, e.g. 1e6 for microseconds → seconds (a division is exact where multiplying by
	// 1e-6 is not: 3.2e6 µs is 3.2 s, not 3.1999999999999997). Zero means none.
	Scale   float64
	Div     float64
	Renames []Rename
	Outcome *Outcome
	// Static attributes added to every point of this rule.
	Static [][2]string
	// TotalOver names a label by which the server breaks a family down beside the total (SGLang's
	// priority): only the series without it are mapped (all of them when none lacks it), and the
	// family also passes through whole.
	TotalOver string
}

// Convert applies the rule's unit conversion to a value.
func (r *Rule) Convert(v float64) float64 {
	switch {
	case r.Div != 0:
		return v / r.Div
	case r.Scale != 0:
		return v * r.Scale
	}
	return v
}

// ScaleOf turns a user's multiplier into the rule's Scale and Div: a multiplier below 1 whose inverse
// is a whole number (0.001, 1e-6) becomes a division, which is exact.
func ScaleOf(scale float64) (mul, div float64) {
	if scale > 0 && scale < 1 {
		inv := math.Round(1 / scale)
		if math.Abs(1/scale-inv) <= 1e-9*inv {
			return 0, inv
		}
	}
	return scale, 0
}

// Flavor is one kind of server: its name and its rules.
type Flavor struct {
	Name  string
	Rules []Rule
	// Provider is gen_ai.provider.name on the flavor's gen_ai.server.* points: the serving engine.
	Provider string
	// Operation is gen_ai.operation.name on them, where every request of the flavor is one operation
	// (TEI: embeddings); "" when the server mixes operations on one series.
	Operation string
	// GaugeFamilies are exposed families typed counter that are not counters (an average, say): they
	// pass through as gauges.
	GaugeFamilies []string
	// ModelInfoPath is a JSON endpoint on the same host that names the served model at
	// ModelInfoField, a dotted path ("model_id", "data.0.id"), for servers whose metrics carry no
	// model label.
	ModelInfoPath  string
	ModelInfoField string
	// Markers are exposed families whose presence says a payload comes from this flavor: any one of
	// them, or all of them with AllMarkers (for flavors whose names are unprefixed and common).
	Markers    []string
	AllMarkers bool
	// Prefixes are name prefixes only this flavor's families have (vllm:, tgi_): one family with one
	// of them is enough, so a server that has just started and exposes little is still recognized.
	Prefixes []string
}

// Kind is the shape of a rule's output: that of its declared metric, or AsExposed.
func (r *Rule) Kind() Kind {
	switch r.Metric.Type {
	case names.Histogram:
		return Histogram
	case names.Sum:
		if r.Metric.Monotonic {
			return Sum
		}
		return UpDownSum
	case names.Gauge:
		return Gauge
	}
	return AsExposed
}

// MetricFor is the declared metric of that name, or an undeclared one with only the name and unit
// (a user's mapping onto a metric of its own).
func MetricFor(name, unit string) names.Metric {
	if m, ok := names.ByName(name); ok {
		return m
	}
	return names.Metric{Name: name, Unit: unit}
}

var (
	modelName = Rename{Label: "model_name", Attribute: AttrModel}
	model     = []Rename{modelName}
	input     = [][2]string{{AttrTokenType, "input"}}
	output    = [][2]string{{AttrTokenType, "output"}}
	success   = [][2]string{{AttrOutcome, OutcomeSuccess}}
	failure   = [][2]string{{AttrOutcome, OutcomeError}}
	aborted   = [][2]string{{AttrOutcome, OutcomeAborted}}
)

// vllmOutcome: vLLM labels finished requests with finished_reason stop, length, abort (and error in
// newer versions). Every reason other than abort and error is a normal finish.
var vllmOutcome = &Outcome{
	Label:   "finished_reason",
	Values:  map[string]string{"abort": OutcomeAborted, "error": OutcomeError},
	Default: OutcomeSuccess,
	KeepAs:  AttrFinishReason,
}

// vllmRules are written once with the bare names vLLM's engine uses; VLLM prefixes them with vllm:
// and Ray's re-export (ray_vllm:), NIM uses them bare.
var vllmRules = []Rule{
	{Sources: []string{"e2e_request_latency_seconds"}, Metric: names.GenAIServerRequestDuration, Renames: model},
	{Sources: []string{"time_to_first_token_seconds"}, Metric: names.GenAIServerTimeToFirstToken, Renames: model},
	// Per token interval: v1's inter_token_latency_seconds, v0's time_per_output_token_seconds.
	{Sources: []string{"inter_token_latency_seconds", "time_per_output_token_seconds"}, Metric: names.InferenceInterTokenDuration, Renames: model},
	// Per request, as semconv defines time per output token.
	{Sources: []string{"request_time_per_output_token_seconds"}, Metric: names.GenAIServerTimePerOutputToken, Renames: model},
	{Sources: []string{"request_queue_time_seconds"}, Metric: names.InferenceRequestQueueDuration, Renames: model},
	{Sources: []string{"request_success_total"}, Metric: names.InferenceRequests, Renames: model, Outcome: vllmOutcome},
	{Sources: []string{"num_requests_running"}, Metric: names.InferenceRequestsRunning, Renames: model},
	{Sources: []string{"num_requests_waiting"}, Metric: names.InferenceRequestsQueued, Renames: model},
	{Sources: []string{"prompt_tokens_total"}, Metric: names.InferenceTokens, Renames: model, Static: input},
	{Sources: []string{"generation_tokens_total"}, Metric: names.InferenceTokens, Renames: model, Static: output},
	{Sources: []string{"kv_cache_usage_perc", "gpu_cache_usage_perc"}, Metric: names.InferenceKVCacheUtilization, Renames: model},
}

// prefixed returns rules whose sources carry each prefix in turn, preference kept per source.
func prefixed(rules []Rule, prefixes ...string) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.Sources = nil
		for _, src := range rules[i].Sources {
			for _, p := range prefixes {
				r.Sources = append(r.Sources, p+src)
			}
		}
		out[i] = r
	}
	return out
}

// VLLM covers vLLM's v0 and v1 engines, and vLLM re-exported by Ray Serve (ray_vllm:, with Ray's
// labels). Where v1 renamed a family, the v1 name comes first.
var VLLM = Flavor{
	Provider: "vllm",
	Name:     "vllm",
	Rules:    prefixed(vllmRules, "vllm:", "ray_vllm:"),
	Markers:  []string{"vllm:num_requests_running", "ray_vllm:num_requests_running", "vllm:request_success_total", "ray_vllm:request_success_total"},
	Prefixes: []string{"vllm:", "ray_vllm:"},
}

// NIM is NVIDIA NIM for LLMs: vLLM's names without a prefix, and its own success / failure counters
// (request_finish_total{finished_reason} passes through: it counts the same requests again).
var NIM = Flavor{
	Provider: "nim",
	Name:     "nim",
	Rules: append(
		[]Rule{
			{Sources: []string{"request_success_total"}, Metric: names.InferenceRequests, Renames: model, Static: success},
			{Sources: []string{"request_failure_total"}, Metric: names.InferenceRequests, Renames: model, Static: failure},
		},
		withoutMetric(vllmRules, names.InferenceRequests.Name)...),
	// Unprefixed names are common: NIM is told apart by its own counters together with vLLM's.
	Markers:    []string{"request_failure_total", "num_request_max", "num_requests_running"},
	AllMarkers: true,
}

func withoutMetric(rules []Rule, metric string) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Metric.Name != metric {
			out = append(out, r)
		}
	}
	return out
}

// SGLang: num_requests_total counts completed requests and num_aborted_requests_total the aborted
// ones; SGLang exposes no error counter, so no errors are reported for it. token_usage is the
// fraction of the KV-cache token pool in use.
var SGLang = Flavor{
	Provider: "sglang",
	Name:     "sglang",
	Rules: prefixed([]Rule{
		{Sources: []string{"e2e_request_latency_seconds"}, Metric: names.GenAIServerRequestDuration, Renames: model},
		{Sources: []string{"time_to_first_token_seconds"}, Metric: names.GenAIServerTimeToFirstToken, Renames: model},
		// Both are observed per token interval (time_per_output_token_seconds counts millions for
		// thousands of requests): SGLang has no per-request time per output token.
		{Sources: []string{"inter_token_latency_seconds", "time_per_output_token_seconds"}, Metric: names.InferenceInterTokenDuration, Renames: model},
		{Sources: []string{"queue_time_seconds"}, Metric: names.InferenceRequestQueueDuration, Renames: model},
		{Sources: []string{"num_requests_total"}, Metric: names.InferenceRequests, Renames: model, Static: success},
		{Sources: []string{"num_aborted_requests_total"}, Metric: names.InferenceRequests, Renames: model, Static: aborted},
		// Priority scheduling adds one point per priority beside the total (priority=""): the total
		// is mapped, so that sums do not count requests twice.
		{Sources: []string{"num_running_reqs"}, Metric: names.InferenceRequestsRunning, Renames: model, TotalOver: "priority"},
		{Sources: []string{"num_queue_reqs"}, Metric: names.InferenceRequestsQueued, Renames: model, TotalOver: "priority"},
		{Sources: []string{"prompt_tokens_total"}, Metric: names.InferenceTokens, Renames: model, Static: input},
		{Sources: []string{"generation_tokens_total"}, Metric: names.InferenceTokens, Renames: model, Static: output},
		{Sources: []string{"token_usage"}, Metric: names.InferenceKVCacheUtilization, Renames: model},
	}, "sglang:"),
	Markers:  []string{"sglang:num_running_reqs", "sglang:prompt_tokens_total", "sglang:token_usage"},
	Prefixes: []string{"sglang:"},
}

var errType = Rename{Label: "err", Attribute: AttrErrorType}

// hfRouterRules are the rules of Hugging Face's Rust routers (TGI with prefix tgi_, TEI with te_):
// counters without _total, failures by err, durations in seconds, no model label (read from /info).
func hfRouterRules(prefix string) []Rule {
	return prefixed([]Rule{
		{Sources: []string{"request_duration"}, Metric: names.GenAIServerRequestDuration},
		{Sources: []string{"request_queue_duration"}, Metric: names.InferenceRequestQueueDuration},
		{Sources: []string{"request_success"}, Metric: names.InferenceRequests, Static: success},
		{Sources: []string{"request_failure"}, Metric: names.InferenceRequests, Renames: []Rename{errType}, Static: failure},
		{Sources: []string{"queue_size"}, Metric: names.InferenceRequestsQueued},
		{Sources: []string{"batch_current_size"}, Metric: names.InferenceRequestsRunning},
		{Sources: []string{"request_input_length"}, Metric: names.InferenceTokens, Part: PartHistogramSum, Static: input},
	}, prefix)
}

// TGI is Hugging Face text-generation-inference. Its per-request mean time per token and the sum of
// its generated-tokens histogram fill the token schema.
var TGI = Flavor{
	Provider: "tgi",
	Name:     "tgi",
	Rules: append(hfRouterRules("tgi_"),
		Rule{Sources: []string{"tgi_request_mean_time_per_token_duration"}, Metric: names.GenAIServerTimePerOutputToken},
		Rule{Sources: []string{"tgi_request_generated_tokens"}, Metric: names.InferenceTokens, Part: PartHistogramSum, Static: output},
	),
	ModelInfoPath:  "/info",
	ModelInfoField: "model_id",
	Markers:        []string{"tgi_request_success", "tgi_request_count", "tgi_queue_size"},
	// A TGI that has served nothing yet exposes only tgi_batch_max_total_tokens.
	Prefixes: []string{"tgi_"},
}

// TEI is Hugging Face text-embeddings-inference (embeddings produce no output tokens).
var TEI = Flavor{
	Provider:       "tei",
	Operation:      "embeddings",
	Name:           "tei",
	Rules:          hfRouterRules("te_"),
	ModelInfoPath:  "/info",
	ModelInfoField: "model_id",
	Markers:        []string{"te_request_success", "te_request_count", "te_queue_size"},
	Prefixes:       []string{"te_"},
}

var tritonModel = []Rename{{Label: "model", Attribute: AttrModel}, {Label: "version", Attribute: AttrModelVersion}}

// Triton is NVIDIA Triton Inference Server: cumulative microsecond counters become seconds; model and
// version become gen_ai.request.model and inference.model.version; its nv_gpu_* pass through.
var Triton = Flavor{
	Provider: "triton",
	Name:     "triton",
	Rules: []Rule{
		{Sources: []string{"nv_inference_request_success"}, Metric: names.InferenceRequests, Renames: tritonModel, Static: success},
		{Sources: []string{"nv_inference_request_failure"}, Metric: names.InferenceRequests, Renames: tritonModel, Outcome: tritonOutcome},
		{Sources: []string{"nv_inference_request_duration_us"}, Metric: names.InferenceRequestsDuration, Div: 1e6, Renames: tritonModel},
		{Sources: []string{"nv_inference_queue_duration_us"}, Metric: names.InferenceRequestsQueueDuration, Div: 1e6, Renames: tritonModel},
		// With --metrics-config histogram_latencies=true: the time to the first response, in ms. For
		// a streaming (decoupled) LLM model that is the first chunk, which is what a client waits for.
		{Sources: []string{"nv_inference_first_response_histogram_ms"}, Metric: names.GenAIServerTimeToFirstToken, Div: 1e3, Renames: tritonModel},
		{Sources: []string{"nv_inference_pending_request_count"}, Metric: names.InferenceRequestsQueued, Renames: tritonModel},
	},
	Markers:  []string{"nv_inference_request_success", "nv_inference_count"},
	Prefixes: []string{"nv_inference_"},
}

// tritonOutcome: Triton's failure counter has reason = REJECTED, CANCELED, BACKEND or OTHER. A
// request the client canceled is aborted, as vLLM counts its aborts, not a server error; the reason
// stays as error.type.
var tritonOutcome = &Outcome{
	Label:   "reason",
	Values:  map[string]string{"CANCELED": OutcomeAborted},
	Default: OutcomeError,
	KeepAs:  AttrErrorType,
}

// LlamaCPP is llama.cpp's llama-server (--metrics). It exposes no errors; none are invented.
// n_busy_slots_per_decode is typed counter but is an average since start: it passes through as a
// gauge.
var LlamaCPP = Flavor{
	Provider: "llamacpp",
	Name:     "llamacpp",
	Rules: []Rule{
		// prompt_tokens_total leaves out the prompt tokens served from the KV cache, which
		// prompt_tokens_cached_total counts: both are input tokens (vLLM counts them in one), the
		// cached ones marked inference.token.cached=true.
		{Sources: []string{"llamacpp:prompt_tokens_total"}, Metric: names.InferenceTokens, Static: input},
		{Sources: []string{"llamacpp:prompt_tokens_cached_total"}, Metric: names.InferenceTokens, Static: [][2]string{{AttrTokenType, "input"}, {AttrTokenCached, "true"}}},
		{Sources: []string{"llamacpp:tokens_predicted_total"}, Metric: names.InferenceTokens, Static: output},
		{Sources: []string{"llamacpp:requests_processing"}, Metric: names.InferenceRequestsRunning},
		{Sources: []string{"llamacpp:requests_deferred"}, Metric: names.InferenceRequestsQueued},
		{Sources: []string{"llamacpp:kv_cache_usage_ratio"}, Metric: names.InferenceKVCacheUtilization},
	},
	GaugeFamilies: []string{"llamacpp:n_busy_slots_per_decode"},
	Markers:       []string{"llamacpp:prompt_tokens_total", "llamacpp:requests_processing", "llamacpp:n_decode_total"},
	Prefixes:      []string{"llamacpp:"},
	// The OpenAI-compatible model list names the served model (its alias, or the model's path).
	ModelInfoPath:  "/v1/models",
	ModelInfoField: "data.0.id",
}

var dcgmLabels = []Rename{
	{Label: "UUID", Attribute: "hw.id"},
	{Label: "modelName", Attribute: "hw.name"},
	{Label: "gpu", Attribute: "nvidia.gpu.index"},
	{Label: "device", Attribute: "nvidia.gpu.device"},
	{Label: "Hostname", Attribute: "host.name"},
	{Label: "pod", Attribute: "k8s.pod.name"},
	{Label: "namespace", Attribute: "k8s.namespace.name"},
	{Label: "container", Attribute: "k8s.container.name"},
}

func dcgm(source string, metric names.Metric, scale float64, static ...[2]string) Rule {
	mul, div := ScaleOf(scale)
	base := [][2]string{{names.AttrHwVendor, "nvidia"}}
	if strings.HasPrefix(metric.Name, "hw.") {
		base = append(base, [2]string{names.AttrHwType, "gpu"})
	}
	return Rule{
		Sources: []string{source}, Metric: metric, Scale: mul, Div: div, Renames: dcgmLabels,
		Static: append(base, static...),
	}
}

// DCGM is NVIDIA's dcgm-exporter, normalised to the same hw.gpu.* schema as the receiver's own GPU
// scraper: percentages → 0..1, MiB → By, mJ → J, MHz → Hz; gpu/UUID/modelName → hw.*, Kubernetes
// labels → k8s.*. DCGM_FI_DEV_XID_ERRORS (the last Xid, a gauge) passes through.
var DCGM = Flavor{
	Name: "dcgm",
	Rules: []Rule{
		dcgm("DCGM_FI_DEV_GPU_UTIL", names.HwGPUUtilization, 0.01, [2]string{"hw.gpu.task", "general"}),
		dcgm("DCGM_FI_DEV_ENC_UTIL", names.HwGPUUtilization, 0.01, [2]string{"hw.gpu.task", "encoder"}),
		dcgm("DCGM_FI_DEV_DEC_UTIL", names.HwGPUUtilization, 0.01, [2]string{"hw.gpu.task", "decoder"}),
		dcgm("DCGM_FI_DEV_MEM_COPY_UTIL", names.HwGPUMemoryBusy, 0.01),
		dcgm("DCGM_FI_DEV_FB_USED", names.HwGPUMemoryUsage, 1<<20),
		dcgm("DCGM_FI_DEV_FB_TOTAL", names.HwGPUMemoryLimit, 1<<20),
		dcgm("DCGM_FI_DEV_FB_USED_PERCENT", names.HwGPUMemoryUtilization, 0.01),
		dcgm("DCGM_FI_DEV_POWER_USAGE", names.HwPower, 1),
		dcgm("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", names.HwEnergy, 0.001),
		dcgm("DCGM_FI_DEV_GPU_TEMP", names.HwTemperature, 1, [2]string{"hw.sensor_location", "gpu"}),
		dcgm("DCGM_FI_DEV_MEMORY_TEMP", names.HwTemperature, 1, [2]string{"hw.sensor_location", "memory"}),
		dcgm("DCGM_FI_DEV_SM_CLOCK", names.HwGPUClockFrequency, 1e6, [2]string{"hw.gpu.clock.type", "sm"}),
		dcgm("DCGM_FI_DEV_MEM_CLOCK", names.HwGPUClockFrequency, 1e6, [2]string{"hw.gpu.clock.type", "memory"}),
		// Profiling fields (DCGM_FI_PROF_*, ratios already): the same metrics NVML GPM gives.
		dcgm("DCGM_FI_PROF_SM_ACTIVE", names.NvidiaGPUSMActive, 1),
		dcgm("DCGM_FI_PROF_SM_OCCUPANCY", names.NvidiaGPUSMOccupancy, 1),
		dcgm("DCGM_FI_PROF_GR_ENGINE_ACTIVE", names.NvidiaGPUGraphicsEngineActive, 1),
		dcgm("DCGM_FI_PROF_DRAM_ACTIVE", names.NvidiaGPUDramActive, 1),
		dcgm("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", names.NvidiaGPUPipeActive, 1, [2]string{"nvidia.gpu.pipe", "tensor"}),
		dcgm("DCGM_FI_PROF_PIPE_FP64_ACTIVE", names.NvidiaGPUPipeActive, 1, [2]string{"nvidia.gpu.pipe", "fp64"}),
		dcgm("DCGM_FI_PROF_PIPE_FP32_ACTIVE", names.NvidiaGPUPipeActive, 1, [2]string{"nvidia.gpu.pipe", "fp32"}),
		dcgm("DCGM_FI_PROF_PIPE_FP16_ACTIVE", names.NvidiaGPUPipeActive, 1, [2]string{"nvidia.gpu.pipe", "fp16"}),
		dcgm("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", names.HwErrors, 1, [2]string{AttrErrorType, "remapped_row_correctable"}),
		dcgm("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", names.HwErrors, 1, [2]string{AttrErrorType, "remapped_row_uncorrectable"}),
	},
	Markers:  []string{"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP"},
	Prefixes: []string{"DCGM_FI_"},
}

// Prometheus is a generic exporter: nothing is mapped unless the user configures mappings.
var Prometheus = Flavor{Name: "prometheus"}

// exposition flavors, in the order auto-detection tries them (NIM before the bare names of others).
var expositionFlavors = []*Flavor{&VLLM, &SGLang, &TGI, &TEI, &Triton, &LlamaCPP, &DCGM, &NIM, &Prometheus}

// Flavors read from something other than a Prometheus exposition.
const (
	FlavorOllama = "ollama"
	FlavorJSON   = "json"
)

// Lookup returns the exposition flavor of that name, or nil.
func Lookup(name string) *Flavor {
	for _, f := range expositionFlavors {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Names lists every flavor a server may have, sorted.
func Names() []string {
	out := []string{FlavorOllama, FlavorJSON}
	for _, f := range expositionFlavors {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

// Valid tells whether name is a flavor.
func Valid(name string) bool {
	return Lookup(name) != nil || name == FlavorOllama || name == FlavorJSON
}

// Detect names the flavor of a payload from the families it exposes: has reports whether a family is
// present, names lists them all. A flavor is recognized by its markers or by a family with one of
// its prefixes. Anything no flavor claims is a generic prometheus exporter.
func Detect(has func(family string) bool, names []string) *Flavor {
	for _, f := range expositionFlavors {
		found := 0
		for _, m := range f.Markers {
			if has(m) {
				found++
			}
		}
		if found > 0 && (!f.AllMarkers || found == len(f.Markers)) {
			return f
		}
	}
	for _, name := range names {
		for _, f := range expositionFlavors {
			for _, p := range f.Prefixes {
				if strings.HasPrefix(name, p) {
					return f
				}
			}
		}
	}
	return &Prometheus
}
