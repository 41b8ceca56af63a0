package inferenceprobereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/receiver/inferenceprobereceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	c, err := testbed.ComponentConfig("testdata/config.yaml", component.NewID(metadata.Type), NewFactory())
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(c))
	cfg := c.(*Config)
	require.Len(t, cfg.Probes, 4)
	assert.Equal(t, time.Minute, cfg.CollectionInterval)
	assert.Equal(t, 4, cfg.MaxConcurrent)
	math := cfg.Probes[0]
	assert.Equal(t, "http://127.0.0.1:8000/v1", math.Endpoint)
	assert.Equal(t, 30*time.Second, math.Timeout)
	assert.True(t, math.Stream)
	assert.EqualValues(t, 16, math.MaxTokens)
	h, ok := math.Headers.Get("X-Probe")
	require.True(t, ok)
	assert.Equal(t, "canary", string(h))
	require.NotNil(t, cfg.Probes[1].Expect.JSONSchema)
	assert.Equal(t, 1, *cfg.Probes[2].Expect.Top)
	assert.InDelta(t, 0.99, *cfg.Probes[3].Expect.MinSimilarity, 0)
	assert.Equal(t, "sk-test", string(cfg.Probes[3].APIKey))
}

// Every mistake is named with its probe and key, and says what to do.
func TestValidateErrors(t *testing.T) {
	ok := func() ProbeConfig {
		p := probe("p", "http://127.0.0.1:8000/v1", KindChat)
		return p
	}
	top5, sim2 := 5, 2.0
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no probes", func(c *Config) { c.Probes = nil }, `"probes" is empty`},
		{"unknown kind", func(c *Config) { c.Probes[0].Kind = "chatt" }, `probe "p": "kind" "chatt" is not one of chat, completion, embedding, rerank`},
		{"no kind", func(c *Config) { c.Probes[0].Kind = "" }, `"kind" must be set`},
		{"no max_tokens", func(c *Config) { c.Probes[0].MaxTokens = 0 }, `"max_tokens" must be set for a chat probe`},
		{"bad regex", func(c *Config) { c.Probes[0].Expect.Regex = "(" }, `"expect.regex" does not compile`},
		{"bad schema", func(c *Config) { c.Probes[0].Expect.JSONSchema = map[string]any{"type": "objekt"} }, `"expect.json_schema" is not a valid JSON schema`},
		{"schema not JSON", func(c *Config) { c.Probes[0].Expect.JSONSchema = "{not json" }, `"expect.json_schema" is not a valid JSON schema`},
		{"expect top on chat", func(c *Config) { one := 1; c.Probes[0].Expect.Top = &one }, `"expect.top" and "expect.min_score" check a rerank answer; a chat probe checks "contains", "equals", "regex" and "json_schema"`},
		{"expect contains on embedding", func(c *Config) {
			c.Probes[0].Kind, c.Probes[0].MaxTokens, c.Probes[0].Expect.Contains = KindEmbedding, 0, "x"
		}, `check a chat or completion answer; a embedding probe checks "dimensions"`},
		{"rerank without documents", func(c *Config) { c.Probes[0].Kind, c.Probes[0].MaxTokens = KindRerank, 0 }, `"documents" must list at least two documents`},
		{"top out of range", func(c *Config) {
			c.Probes[0].Kind, c.Probes[0].MaxTokens, c.Probes[0].Documents, c.Probes[0].Expect.Top = KindRerank, 0, []string{"a", "b"}, &top5
		}, `"expect.top" (5) is not the index of one of the 2 documents`},
		{"similarity without reference", func(c *Config) {
			c.Probes[0].Kind, c.Probes[0].MaxTokens, c.Probes[0].Expect.MinSimilarity = KindEmbedding, 0, &sim2
		}, `"expect.min_similarity" needs "expect.reference"`},
		{"reference size", func(c *Config) {
			c.Probes[0].Kind, c.Probes[0].MaxTokens = KindEmbedding, 0
			c.Probes[0].Expect.Dimensions, c.Probes[0].Expect.Reference = 4, []float64{1, 0}
		}, `"expect.reference" has 2 values but "expect.dimensions" is 4`},
		{"stream on embedding", func(c *Config) { c.Probes[0].Kind, c.Probes[0].MaxTokens, c.Probes[0].Stream = KindEmbedding, 0, true }, `"stream" applies to chat and completion probes`},
		{"duplicate names", func(c *Config) { c.Probes = append(c.Probes, c.Probes[0]) }, `probe "p": "name" is used by probes[0] too`},
		{"no name", func(c *Config) { c.Probes[0].Name = "" }, `probes[0]: "name" must be set`},
		{"no endpoint", func(c *Config) { c.Probes[0].Endpoint = "" }, `"endpoint" must be set`},
		{"endpoint without scheme", func(c *Config) { c.Probes[0].Endpoint = "127.0.0.1:8000/v1" }, `is not an http(s) URL`},
		{"no input", func(c *Config) { c.Probes[0].Input = " " }, `"input" must be set`},
		{"timeout beyond interval", func(c *Config) { c.Probes[0].Timeout = 2 * time.Minute }, `"timeout" (2m0s) is longer than collection_interval (1m0s)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Probes = []ProbeConfig{ok()}
			require.NoError(t, cfg.Validate())
			tc.edit(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
