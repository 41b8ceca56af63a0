package gpu

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/testbed"
)

type point struct {
	attrs map[string]any
	v     float64
}

func points(ms pmetric.MetricSlice, name string) []point {
	var out []point
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Name() != name {
			continue
		}
		dps := testbed.NumberPoints(m)
		for j := 0; j < dps.Len(); j++ {
			out = append(out, point{attrs: dps.At(j).Attributes().AsRaw(), v: dps.At(j).DoubleValue()})
		}
	}
	return out
}

func find(t *testing.T, ps []point, match map[string]any) point {
	t.Helper()
	for _, p := range ps {
		ok := true
		for k, v := range match {
			if p.attrs[k] != v {
				ok = false
			}
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no point with %v in %v", match, ps)
	return point{}
}

// servers is a fixed list of servers to join GPU processes to.
func servers(s ...Server) func() []Server { return func() []Server { return s } }
