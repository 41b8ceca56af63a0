package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
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

// RuleConfig is one derived ratio.
type RuleConfig struct {
	// Name is the output metric (a gauge of unit 1).
	Name        string    `mapstructure:"name"`
	Numerator   *Selector `mapstructure:"numerator"`
	Denominator *Selector `mapstructure:"denominator"`
	// GroupBy lists the data-point attributes kept on the output; the resource is always kept.
	GroupBy []string `mapstructure:"group_by"`
	// Window overrides the processor's window for this rule.
	Window time.Duration `mapstructure:"window"`

	_ struct{}
}

// Selector picks the points of one sum metric, optionally only those whose attributes equal Match.
type Selector struct {
	Metric string            `mapstructure:"metric"`
	Match  map[string]string `mapstructure:"match"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// DefaultRules are used when no rules are configured: the error ratio of the inference receiver's
// inference.requests (aborted requests count in the denominator only).
func DefaultRules() []RuleConfig {
	return []RuleConfig{{
		Name:        "inference.requests.error_ratio",
		Numerator:   &Selector{Metric: "inference.requests", Match: map[string]string{"inference.outcome": "error"}},
		Denominator: &Selector{Metric: "inference.requests"},
		GroupBy:     []string{"gen_ai.request.model"},
	}}
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
	names := map[string]bool{}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		where := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			errs = append(errs, fmt.Errorf(`%s: "name" must be specified (the output metric's name)`, where))
		} else {
			where = fmt.Sprintf("rule %q", r.Name)
			if names[r.Name] {
				errs = append(errs, fmt.Errorf(`%s: "name" is used by another rule; names must be unique`, where))
			}
			names[r.Name] = true
		}
		if r.Window < 0 {
			errs = append(errs, fmt.Errorf(`%s: "window" must be positive, got %s`, where, r.Window))
		}
		switch {
		case r.Numerator == nil || r.Denominator == nil:
			errs = append(errs, fmt.Errorf(`%s: "numerator" and "denominator" must both be specified`, where))
		default:
			if r.Numerator.Metric == "" {
				errs = append(errs, fmt.Errorf(`%s: "numerator.metric" must be specified`, where))
			}
			if r.Denominator.Metric == "" {
				errs = append(errs, fmt.Errorf(`%s: "denominator.metric" must be specified`, where))
			}
		}
	}
	return errors.Join(errs...)
}
