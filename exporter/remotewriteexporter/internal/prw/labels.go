package prw // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"

import (
	"cmp"
	"slices"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The label set of a series, named as contrib's prometheus remote-write translator (and Prometheus's
// own OTLP endpoint) names it. This is the slow path: it runs once per new stream, and its result
// is encoded and kept.

type label struct{ name, value string }

const (
	nameLabel     = "__name__"
	jobLabel      = "job"
	instanceLabel = "instance"

	attrServiceName      = "service.name"
	attrServiceNamespace = "service.namespace"
	attrServiceInstance  = "service.instance.id"
)

// permissiveSanitizationGate is contrib's gate that stops "key" being put before label names that
// start with one underscore. Read by its ID: the gate is registered only where contrib's Prometheus
// translator is linked in, and is off otherwise.
const permissiveSanitizationGate = "pkg.translator.prometheus.PermissiveLabelSanitization"

func gateEnabled(id string) bool {
	on := false
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		if g.ID() == id {
			on = g.IsEnabled()
		}
	})
	return on
}

// labelBuilder builds label sets; its map and slice are reused from one new stream to the next.
type labelBuilder struct {
	namer    otlptranslator.LabelNamer
	external map[string]string
	scopeOff bool
	m        map[string]string
	attrs    []label
	// toPoints: the resource's attributes are labels of every point too (resource_to_telemetry_conversion),
	// taking the place of point attributes of the same key; keepService: service.name, namespace and
	// instance.id among them (they are job and instance already).
	toPoints    pcommon.Map
	resToPoints bool
	keepService bool
}

// build returns the labels of a point with attributes attrs, on a resource with resource attributes
// res, in scope (nil: none), with extra name/value pairs (reserved names such as __name__ are kept
// as they are, others sanitized), sorted by name. ignore lists attribute keys left out.
func (lb *labelBuilder) build(res, attrs pcommon.Map, scope *pcommon.InstrumentationScope, ignore []string, extras ...string) ([]label, error) {
	clear(lb.m)
	lb.attrs = lb.attrs[:0]
	for k, v := range attrs.All() {
		if slices.Contains(ignore, k) || lb.fromResource(k) {
			continue
		}
		if s := v.AsString(); s != "" {
			lb.attrs = append(lb.attrs, label{k, s})
		}
	}
	if lb.resToPoints {
		for k, v := range lb.toPoints.All() {
			if !lb.fromResource(k) {
				continue
			}
			if s := v.AsString(); s != "" {
				lb.attrs = append(lb.attrs, label{k, s})
			}
		}
	}
	// Sorted by the original key, so that keys which collide once sanitized merge in a fixed order.
	slices.SortStableFunc(lb.attrs, func(a, b label) int { return cmp.Compare(a.name, b.name) })
	for _, a := range lb.attrs {
		name, err := lb.namer.Build(a.name)
		if err != nil {
			return nil, err
		}
		if old, ok := lb.m[name]; ok {
			if old != a.value {
				lb.m[name] = old + ";" + a.value
			}
			continue
		}
		lb.m[name] = a.value
	}
	if svc, ok := res.Get(attrServiceName); ok {
		if v := svc.AsString(); v != "" {
			if ns, ok := res.Get(attrServiceNamespace); ok {
				v = ns.AsString() + "/" + v
			}
			lb.m[jobLabel] = v
		}
	}
	if inst, ok := res.Get(attrServiceInstance); ok {
		if v := inst.AsString(); v != "" {
			lb.m[instanceLabel] = v
		}
	}
	for k, v := range lb.external {
		if _, ok := lb.m[k]; !ok {
			lb.m[k] = v
		}
	}
	if scope != nil && !lb.scopeOff {
		if n := scope.Name(); n != "" {
			lb.put("otel_scope_name", n)
		}
		if v := scope.Version(); v != "" {
			lb.put("otel_scope_version", v)
		}
		for k, v := range scope.Attributes().All() {
			if k == "name" || k == "version" || k == "schema_url" {
				continue
			}
			lb.put("otel_scope_"+k, v.AsString())
		}
	}
	for i := 0; i+1 < len(extras); i += 2 {
		name := extras[i]
		if !reserved(name) {
			var err error
			if name, err = lb.namer.Build(name); err != nil {
				return nil, err
			}
		}
		lb.m[name] = extras[i+1]
	}
	out := make([]label, 0, len(lb.m)+2)
	for k, v := range lb.m {
		out = append(out, label{k, v})
	}
	sortLabels(out)
	return out, nil
}

// fromResource: the resource's attribute k is a point label (resource_to_telemetry_conversion).
func (lb *labelBuilder) fromResource(k string) bool {
	if !lb.resToPoints {
		return false
	}
	if _, ok := lb.toPoints.Get(k); !ok {
		return false
	}
	return lb.keepService || (k != attrServiceName && k != attrServiceNamespace && k != attrServiceInstance)
}

// put sets a label whose name is sanitized; one that cannot be is left out.
func (lb *labelBuilder) put(name, value string) {
	if n, err := lb.namer.Build(name); err == nil {
		lb.m[n] = value
	}
}

// reserved: a name of the form __x__ is the translator's own and is not sanitized.
func reserved(name string) bool {
	return len(name) > 4 && name[:2] == "__" && name[len(name)-2:] == "__"
}

func sortLabels(ls []label) {
	slices.SortStableFunc(ls, func(a, b label) int { return cmp.Compare(a.name, b.name) })
}

// withExtra returns base plus the given pairs (added without merging, as the translator adds le,
// quantile and __name__ to a histogram's or summary's base labels), sorted; base labels stay before
// added ones of the same name.
func withExtra(base []label, pairs ...string) []label {
	out := make([]label, len(base), len(base)+len(pairs)/2)
	copy(out, base)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, label{pairs[i], pairs[i+1]})
	}
	sortLabels(out)
	return out
}
