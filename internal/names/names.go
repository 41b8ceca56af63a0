// Package names holds the one declaration of every metric the inference receiver emits, generated
// from receiver/inferencereceiver/metadata.yaml by cmd/schemagen, and the attribute names they share:
// the receiver's converters, the ratio processor's default rules and the tests all use these, so
// that a name, unit or description is written once.
package names // import "github.com/otel-inference/collector/internal/names"

// Type is a metric's OTLP type.
type Type uint8

const (
	Gauge Type = iota + 1
	Sum
	Histogram
)

// Metric describes one metric as metadata.yaml declares it.
type Metric struct {
	Name        string
	Unit        string
	Description string
	Type        Type
	// Monotonic is true for a counter, false for an up-down sum (hw.gpu.memory.usage).
	Monotonic bool
	// Bounds are a histogram's bucket boundaries, where the component makes its own histogram (a
	// probe's client-side measurements); nil where a server's own buckets are copied.
	Bounds []float64
}

// ByName finds a declared metric.
func ByName(name string) (Metric, bool) {
	for _, m := range All {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Attributes the schema's metrics carry (OTel semantic conventions first).
const (
	AttrGenAIRequestModel  = "gen_ai.request.model"
	AttrGenAIProviderName  = "gen_ai.provider.name"
	AttrGenAIOperationName = "gen_ai.operation.name"
	AttrGenAITokenType     = "gen_ai.token.type" //nolint:gosec // G101: a semantic-convention attribute name, not a credential
	AttrErrorType          = "error.type"
	AttrOutcome            = "inference.outcome"
	AttrFinishReason       = "inference.finish_reason"
	AttrModelVersion       = "inference.model.version"
	AttrMemoryKind         = "inference.memory.kind"
	AttrTokenCached        = "inference.token.cached"
	AttrServerName         = "inference.server.name"
	AttrHwID               = "hw.id"
	AttrHwName             = "hw.name"
	AttrHwVendor           = "hw.vendor"
	AttrHwType             = "hw.type"
	AttrHwParent           = "hw.parent"
	AttrHwGPUTask          = "hw.gpu.task"
)

// Outcomes of inference.requests.
const (
	OutcomeSuccess = "success"
	OutcomeError   = "error"
	OutcomeAborted = "aborted"
)
