package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otel-inference/collector/internal/confcheck"
	"github.com/otel-inference/collector/internal/names"
)

// Config is the ratio processor's configuration.
type Config struct {
	// Window is the default window of every rule.
	Window time.Duration `mapstructure:"window"`
	// MaxStaleness: series not updated this long are forgotten.
	MaxStaleness time.Duration `mapstructure:"max_staleness"`
	// MaxSeries caps the tracked series; beyond it new series are not tracked (counted, logged once).
	MaxSeries int `mapstructure:"max_series"`
	// Rules are the ratios to derive. Omitted: the default rules (DefaultRules).
	Rules []RuleConfig `mapstructure:"rules"`

	_ struct{}
}

// RuleConfig is one derived ratio: either a counter ratio (numerator and denominator) or a histogram
// fraction (histogram).
type RuleConfig struct {
	// Name is the output metric (a gauge).
	Name        string             `mapstructure:"name"`
	Numerator   *Selector          `mapstructure:"numerator"`
	Denominator *Selector          `mapstructure:"denominator"`
	Histogram   *HistogramSelector `mapstructure:"histogram"`
	// GroupBy lists the data-point attributes kept on the output; the resource is always kept.
	GroupBy []string `mapstructure:"group_by"`
	// Window overrides the processor's window for this rule.
	Window time.Duration `mapstructure:"window"`
	// Unit of the output, "1" by default (a ratio in 0..1). Any other unit makes a counter rule a
	// plain quotient (e.g. mean latency in s = Δ duration / Δ requests), not checked to stay ≤ 1.
	Unit string `mapstructure:"unit"`

	_ struct{}
}

// HistogramSelector picks a histogram metric and a threshold: the output is the fraction of its
// observations above the threshold (> above) or at most the threshold (≤ at_most).
type HistogramSelector struct {
	Metric string            `mapstructure:"metric"`
	Match  map[string]string `mapstructure:"match"`
	Above  *float64          `mapstructure:"above"`
	AtMost *float64          `mapstructure:"at_most"`

	_ struct{}
}

// Selector picks the points of one sum metric, optionally only those whose attributes equal Match.
type Selector struct {
	Metric string            `mapstructure:"metric"`
	Match  map[string]string `mapstructure:"match"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// The default rules' outputs.
const (
	ErrorRatio     = "inference.requests.error_ratio"
	ScoreHighRatio = "inference.score.high_ratio"
	SLORatio       = "inference.requests.slo_ratio"
	// TokensEnergy is the energy per output token of a model server (J/{token}).
	TokensEnergy = "inference.tokens.energy"
	// ProbePassRatio is the fraction of an inference_probe's checks that passed.
	ProbePassRatio = "inference.probe.pass_ratio"
)

// DefaultRules are used when no rules are configured, on the inference receiver's schema: the error
// ratio of inference.requests (aborted requests count in the denominator only), the fraction of
// inference.score above 0.8, the fraction of requests finished within 10 s, the energy per output
// token, and the pass ratio of each inference_probe (passes over all checks, errors included).
func DefaultRules() []RuleConfig {
	model := []string{names.AttrGenAIRequestModel}
	highScore, slo := 0.8, 10.0
	return []RuleConfig{
		{
			Name:        ErrorRatio,
			Numerator:   &Selector{Metric: names.InferenceRequests.Name, Match: map[string]string{names.AttrOutcome: names.OutcomeError}},
			Denominator: &Selector{Metric: names.InferenceRequests.Name},
			GroupBy:     model,
		},
		{
			Name:      ScoreHighRatio,
			Histogram: &HistogramSelector{Metric: names.InferenceScore.Name, Above: &highScore},
			GroupBy:   model,
		},
		{
			Name:      SLORatio,
			Histogram: &HistogramSelector{Metric: names.GenAIServerRequestDuration.Name, AtMost: &slo},
			GroupBy:   model,
		},
		{
			// Energy is known per server, not per model: the quotient is per server (resource).
			Name:        TokensEnergy,
			Numerator:   &Selector{Metric: names.InferenceServerEnergy.Name},
			Denominator: &Selector{Metric: names.InferenceTokens.Name, Match: map[string]string{names.AttrGenAITokenType: "output"}},
			Unit:        "J/{token}",
		},
		{
			Name:        ProbePassRatio,
			Numerator:   &Selector{Metric: names.InferenceProbeChecks.Name, Match: map[string]string{"inference.probe.result": "pass"}},
			Denominator: &Selector{Metric: names.InferenceProbeChecks.Name},
			GroupBy:     []string{"inference.probe.name"},
		},
	}
}

// Validate names the key of every problem.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Window <= 0 {
		errs = append(errs, fmt.Errorf(`"window" must be positive, got %s`, cfg.Window))
	}
	if cfg.MaxStaleness <= 0 {
		errs = append(errs, fmt.Errorf(`"max_staleness" must be positive, got %s`, cfg.MaxStaleness))
	}
	if cfg.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf(`"max_series" must be positive, got %d`, cfg.MaxSeries))
	}
	errs = append(errs, confcheck.EachNamed(cfg.Rules, "rules", "rule", "it is the output metric's name", func(r *RuleConfig) string { return r.Name },
		func(r *RuleConfig, where string) []error { return r.validate(where) })...)
	return errors.Join(errs...)
}

// validate checks one rule; where names it in the errors.
func (r *RuleConfig) validate(where string) []error {
	var errs []error
	if r.Window < 0 {
		errs = append(errs, fmt.Errorf(`%s: "window" must be positive, got %s`, where, r.Window))
	}
	counter := r.Numerator != nil || r.Denominator != nil
	switch {
	case counter && r.Histogram != nil:
		errs = append(errs, fmt.Errorf(`%s: give either "numerator" and "denominator" (a counter ratio) or "histogram" (a histogram fraction), not both`, where))
	case r.Histogram != nil:
		h := r.Histogram
		if h.Metric == "" {
			errs = append(errs, fmt.Errorf(`%s: "histogram.metric" must be specified`, where))
		}
		switch {
		case h.Above != nil && h.AtMost != nil:
			errs = append(errs, fmt.Errorf(`%s: give one of "histogram.above" and "histogram.at_most", not both`, where))
		case h.Above == nil && h.AtMost == nil:
			errs = append(errs, fmt.Errorf(`%s: "histogram" needs a threshold: "above" (fraction > x) or "at_most" (fraction ≤ x)`, where))
		}
		if r.Unit != "" && r.Unit != "1" {
			errs = append(errs, fmt.Errorf(`%s: a histogram fraction has unit 1; remove "unit"`, where))
		}
	case r.Numerator == nil || r.Denominator == nil:
		if counter {
			errs = append(errs, fmt.Errorf(`%s: "numerator" and "denominator" must both be specified`, where))
		} else {
			errs = append(errs, fmt.Errorf(`%s: unknown rule kind: give "numerator" and "denominator" (a counter ratio) or "histogram" (a histogram fraction)`, where))
		}
	default:
		if r.Numerator.Metric == "" {
			errs = append(errs, fmt.Errorf(`%s: "numerator.metric" must be specified`, where))
		}
		if r.Denominator.Metric == "" {
			errs = append(errs, fmt.Errorf(`%s: "denominator.metric" must be specified`, where))
		}
	}
	return errs
}
