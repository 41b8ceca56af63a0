package testbed

import (
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// ComponentConfig reads the section id of a collector configuration file into factory's default
// configuration, as the collector decodes it (unknown keys are errors); validating it is left to the
// caller (confmap.Validate, as the collector does at start-up).
func ComponentConfig(path string, id component.ID, factory component.Factory) (component.Config, error) {
	cm, err := confmaptest.LoadConf(path)
	if err != nil {
		return nil, err
	}
	sub, err := cm.Sub(id.String())
	if err != nil {
		return nil, fmt.Errorf("%s: section %s: %w", path, id, err)
	}
	cfg := factory.CreateDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("%s: section %s: %w", path, id, err)
	}
	return cfg, nil
}
