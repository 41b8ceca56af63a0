package inferenceprobereceiver // import "github.com/otel-inference/collector/receiver/inferenceprobereceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otel-inference/collector/internal/confcheck"
	"github.com/otel-inference/collector/receiver/inferenceprobereceiver/internal/metadata"
)

// The kinds of probe: what is asked of the endpoint.
const (
	KindChat       = "chat"       // POST {endpoint}/chat/completions
	KindCompletion = "completion" // POST {endpoint}/completions
	KindEmbedding  = "embedding"  // POST {endpoint}/embeddings
	KindRerank     = "rerank"     // POST {endpoint}/rerank
)

// Config is the receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Probes are the requests sent on every collection interval.
	Probes []ProbeConfig `mapstructure:"probes"`
	// MaxConcurrent bounds the probes in flight at once (default 8).
	MaxConcurrent int `mapstructure:"max_concurrent"`

	_ struct{}
}

// ProbeConfig is one probe.
type ProbeConfig struct {
	// Name is unique; it becomes inference.probe.name.
	Name string `mapstructure:"name"`
	// ClientConfig: endpoint is the OpenAI-compatible base URL (…/v1); every confighttp client option
	// (headers, auth extensions, TLS, proxy) applies; timeout bounds one probe (default 30 s).
	confighttp.ClientConfig `mapstructure:",squash"`
	// APIKey is sent as "Authorization: Bearer <key>" (OPENAI_API_KEY is never read).
	APIKey configopaque.String `mapstructure:"api_key"`
	// Kind is chat, completion, embedding or rerank.
	Kind string `mapstructure:"kind"`
	// Model is asked for; omitted, the first model of GET {endpoint}/models.
	Model string `mapstructure:"model"`
	// Stream asks a chat or completion for a stream (time to first chunk, time per output chunk).
	Stream bool `mapstructure:"stream"`
	// Input is the prompt (chat, completion), the text (embedding) or the query (rerank).
	Input string `mapstructure:"input"`
	// Documents are ranked against the query (rerank).
	Documents []string `mapstructure:"documents"`
	// MaxTokens bounds the answer of a chat or completion (required: a probe must cost next to nothing).
	MaxTokens int64 `mapstructure:"max_tokens"`
	// Expect is what the answer must be.
	Expect ExpectConfig `mapstructure:"expect"`

	_ struct{}
}

// ExpectConfig is the check of an answer. Chat and completion: contains, equals, regex, json_schema
// (any of them, all must hold). Rerank: top, min_score. Embedding: dimensions, reference,
// min_similarity. Nothing given: any well-formed answer passes.
type ExpectConfig struct {
	Contains   string `mapstructure:"contains"`
	Equals     string `mapstructure:"equals"`
	Regex      string `mapstructure:"regex"`
	JSONSchema any    `mapstructure:"json_schema"`

	Top      *int     `mapstructure:"top"`
	MinScore *float64 `mapstructure:"min_score"`

	Dimensions    int       `mapstructure:"dimensions"`
	Reference     []float64 `mapstructure:"reference"`
	MinSimilarity *float64  `mapstructure:"min_similarity"`

	_ struct{}
}

// defaultMinSimilarity is the cosine similarity a reference embedding needs when none is given.
const defaultMinSimilarity = 0.99

// Validate names the probe and key of every problem, and the fix.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Probes) == 0 {
		errs = append(errs, errors.New(`"probes" is empty: give at least one probe (name, endpoint, kind, input)`))
	}
	if cfg.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf(`"max_concurrent" must be positive, got %d`, cfg.MaxConcurrent))
	}
	errs = append(errs, confcheck.EachNamed(cfg.Probes, "probes", "probe", "it becomes inference.probe.name", func(p *ProbeConfig) string { return p.Name },
		func(p *ProbeConfig, where string) []error { return p.validate(where, cfg.CollectionInterval) })...)
	return errors.Join(errs...)
}

func (p *ProbeConfig) validate(where string, interval time.Duration) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
	if p.Endpoint == "" {
		bad(`"endpoint" must be set: the OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1`)
	} else if u, err := url.Parse(p.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(`"endpoint" %q is not an http(s) URL; give the base URL, e.g. http://127.0.0.1:8000/v1`, redact.URL(p.Endpoint))
	}
	if p.Timeout < 0 {
		bad(`"timeout" must be positive, got %s`, p.Timeout)
	}
	if interval > 0 && p.Timeout > interval {
		bad(`"timeout" (%s) is longer than collection_interval (%s): a probe would still run when its next turn comes; shorten the timeout or lengthen the interval`, p.Timeout, interval)
	}
	generation := p.Kind == KindChat || p.Kind == KindCompletion
	switch p.Kind {
	case KindChat, KindCompletion, KindEmbedding, KindRerank:
	case "":
		bad(`"kind" must be set: chat, completion, embedding or rerank`)
	default:
		bad(`"kind" %q is not one of chat, completion, embedding, rerank`, p.Kind)
	}
	if strings.TrimSpace(p.Input) == "" {
		bad(`"input" must be set (the prompt, the text to embed, or the rerank query)`)
	}
	if generation && p.MaxTokens <= 0 {
		bad(`"max_tokens" must be set for a %s probe (a small number, e.g. 16: a probe must cost next to nothing)`, p.Kind)
	}
	if !generation && p.MaxTokens != 0 {
		bad(`"max_tokens" applies to chat and completion probes, not %s`, p.Kind)
	}
	if p.Stream && !generation {
		bad(`"stream" applies to chat and completion probes, not %s`, p.Kind)
	}
	if p.Kind == KindRerank && len(p.Documents) < 2 {
		bad(`"documents" must list at least two documents for a rerank probe`)
	}
	if p.Kind != KindRerank && len(p.Documents) > 0 {
		bad(`"documents" applies to rerank probes only`)
	}
	e := &p.Expect
	text := e.Contains != "" || e.Equals != "" || e.Regex != "" || e.JSONSchema != nil
	if text && !generation && p.Kind != "" {
		bad(`"expect.contains", "equals", "regex" and "json_schema" check a chat or completion answer; a %s probe checks %s`, p.Kind, expectOf(p.Kind))
	}
	if (e.Top != nil || e.MinScore != nil) && p.Kind != KindRerank && p.Kind != "" {
		bad(`"expect.top" and "expect.min_score" check a rerank answer; a %s probe checks %s`, p.Kind, expectOf(p.Kind))
	}
	if (e.Dimensions != 0 || e.Reference != nil || e.MinSimilarity != nil) && p.Kind != KindEmbedding && p.Kind != "" {
		bad(`"expect.dimensions", "reference" and "min_similarity" check an embedding; a %s probe checks %s`, p.Kind, expectOf(p.Kind))
	}
	if e.Regex != "" {
		if _, err := regexp.Compile(e.Regex); err != nil {
			bad(`"expect.regex" does not compile: %v`, err)
		}
	}
	if e.JSONSchema != nil {
		if _, err := compileSchema(e.JSONSchema); err != nil {
			bad(`"expect.json_schema" is not a valid JSON schema: %v`, err)
		}
	}
	if e.Top != nil && (*e.Top < 0 || *e.Top >= len(p.Documents)) {
		bad(`"expect.top" (%d) is not the index of one of the %d documents (0-based)`, *e.Top, len(p.Documents))
	}
	if e.Dimensions < 0 {
		bad(`"expect.dimensions" must be positive, got %d`, e.Dimensions)
	}
	if e.Reference != nil && e.Dimensions > 0 && len(e.Reference) != e.Dimensions {
		bad(`"expect.reference" has %d values but "expect.dimensions" is %d`, len(e.Reference), e.Dimensions)
	}
	if e.MinSimilarity != nil {
		if e.Reference == nil {
			bad(`"expect.min_similarity" needs "expect.reference" (the vector to compare with)`)
		}
		if *e.MinSimilarity < -1 || *e.MinSimilarity > 1 {
			bad(`"expect.min_similarity" is a cosine similarity, in -1..1; got %g`, *e.MinSimilarity)
		}
	}
	return errs
}

func expectOf(kind string) string {
	switch kind {
	case KindRerank:
		return `"top" and "min_score"`
	case KindEmbedding:
		return `"dimensions", "reference" and "min_similarity"`
	default:
		return `"contains", "equals", "regex" and "json_schema"`
	}
}

// compileSchema compiles a JSON schema given as YAML (a map) or as JSON text.
func compileSchema(v any) (*jsonschema.Schema, error) {
	var raw []byte
	switch s := v.(type) {
	case string:
		raw = []byte(s)
	default:
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("probe-expect.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("probe-expect.json")
}
