package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// ollamaSource reads Ollama, which has no /metrics: GET /api/ps each scrape (the loaded models) and
// GET /api/version until it answers once.
type ollamaSource struct {
	t       *target
	version string // from /api/version, once it answered
}

func (o *ollamaSource) learned() (flavor, version string) { return schema.FlavorOllama, o.version }

type ollamaPS struct {
	// Models is a pointer so that a document without "models" (not Ollama's answer) is told from
	// one with none loaded; its entries too, so that a null entry is seen.
	Models *[]*struct {
		Name      string    `json:"name"`
		Model     string    `json:"model"`
		Size      float64   `json:"size"`
		SizeVRAM  float64   `json:"size_vram"`
		ExpiresAt time.Time `json:"expires_at"`
		Details   struct {
			Format            string `json:"format"`
			Family            string `json:"family"`
			ParameterSize     string `json:"parameter_size"`
			QuantizationLevel string `json:"quantization_level"`
		} `json:"details"`
	} `json:"models"`
}

func (o *ollamaSource) url(path string) string {
	return strings.TrimRight(o.t.cfg.Endpoint, "/") + path
}

func (o *ollamaSource) scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	t := o.t
	if o.version == "" {
		if body, err := t.get(ctx, o.url("/api/version")); err == nil {
			var v struct {
				Version string `json:"version"`
			}
			if json.Unmarshal(body, &v) == nil {
				o.version = v.Version
			}
		}
	}
	body, err := t.get(ctx, o.url("/api/ps"))
	if err != nil {
		return err
	}
	var ps ollamaPS
	err = json.Unmarshal(body, &ps)
	if err == nil {
		err = ps.check()
	}
	if err != nil {
		return kindErr(kindInvalidResponse, fmt.Errorf("server %q: GET %s: not Ollama's /api/ps answer: %w (is \"endpoint\" Ollama's base URL, e.g. http://127.0.0.1:11434?)", t.label, redact.URL(o.url("/api/ps")), err))
	}
	models := *ps.Models
	ts := pcommon.NewTimestampFromTime(now)

	dp := declared(ms, names.InferenceModelsLoaded).SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(int64(len(models)))
	if len(models) == 0 {
		return nil
	}

	memPoints := declared(ms, names.InferenceModelMemoryUsage).SetEmptyGauge().DataPoints()
	unloadPoints := declared(ms, names.InferenceModelUnloadIn).SetEmptyGauge().DataPoints()

	for _, m := range models {
		model := m.Model
		if model == "" {
			model = m.Name
		}
		for _, kv := range []struct {
			kind string
			v    float64
		}{{"vram", m.SizeVRAM}, {"total", m.Size}} {
			p := memPoints.AppendEmpty()
			p.SetTimestamp(ts)
			p.SetDoubleValue(kv.v)
			p.Attributes().PutStr(schema.AttrModel, model)
			p.Attributes().PutStr(schema.AttrMemoryKind, kv.kind)
		}
		// keep_alive -1 keeps a model loaded for good: Ollama then says it expires in ~292 years (the
		// longest Go duration). No unload is coming, so no point.
		if !m.ExpiresAt.IsZero() && m.ExpiresAt.Sub(now) < neverUnloads {
			p := unloadPoints.AppendEmpty()
			p.SetTimestamp(ts)
			p.SetDoubleValue(max(m.ExpiresAt.Sub(now).Seconds(), 0))
			p.Attributes().PutStr(schema.AttrModel, model)
			putIfSet(p.Attributes(), "ollama.model.family", m.Details.Family)
			putIfSet(p.Attributes(), "ollama.model.parameter_size", m.Details.ParameterSize)
			putIfSet(p.Attributes(), "ollama.model.quantization_level", m.Details.QuantizationLevel)
		}
	}
	return nil
}

// neverUnloads: an expiry further away than this is keep_alive -1 (or a keep_alive of decades).
const neverUnloads = 100 * 365 * 24 * time.Hour

// check rejects a document that decodes but is not a list of loaded models.
func (ps *ollamaPS) check() error {
	if ps.Models == nil {
		return fmt.Errorf(`no "models" list`)
	}
	for i, m := range *ps.Models {
		if m == nil {
			return fmt.Errorf("models[%d] is null", i)
		}
		if m.Name == "" && m.Model == "" {
			return fmt.Errorf("models[%d] has neither name nor model", i)
		}
	}
	return nil
}

// declared appends a metric with the name, unit and description metadata.yaml gives it.
func declared(ms pmetric.MetricSlice, d names.Metric) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(d.Name)
	m.SetUnit(d.Unit)
	m.SetDescription(d.Description)
	return m
}

func putIfSet(attrs pcommon.Map, k, v string) {
	if v != "" {
		attrs.PutStr(k, v)
	}
}
