package testbed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// OpenMetricsCase is one case of the OpenMetrics project's parser test suite.
type OpenMetricsCase struct {
	Name        string
	Body        []byte
	ShouldParse bool
}

// OpenMetricsCases reads the suite's cases (each a folder with test.json and the exposition it
// names) under dir, in name order.
func OpenMetricsCases(dir string) ([]OpenMetricsCase, error) {
	dirs, err := filepath.Glob(filepath.Join(dir, "*", "test.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dirs)
	out := make([]OpenMetricsCase, 0, len(dirs))
	for _, meta := range dirs {
		raw, err := os.ReadFile(meta) //nolint:gosec // G304: test data under the repository
		if err != nil {
			return nil, err
		}
		var m struct {
			Type        string `json:"type"`
			File        string `json:"file"`
			ShouldParse bool   `json:"shouldParse"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", meta, err)
		}
		if m.Type != "text" || m.File == "" {
			return nil, fmt.Errorf("%s: a %q case of file %q; only text cases are known", meta, m.Type, m.File)
		}
		body, err := os.ReadFile(filepath.Join(filepath.Dir(meta), m.File)) //nolint:gosec // G304: as above
		if err != nil {
			return nil, err
		}
		out = append(out, OpenMetricsCase{Name: filepath.Base(filepath.Dir(meta)), Body: body, ShouldParse: m.ShouldParse})
	}
	return out, nil
}
