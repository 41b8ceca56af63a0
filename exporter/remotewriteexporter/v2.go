package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"context"
	"net/http"
	"strconv"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// The protocols of `protocol`.
const (
	protocolV1 = "v1"
	protocolV2 = "v2"
)

// contentTypeV2 is remote write 2.0's content type.
const contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

// request is one remote-write request, encoded (before snappy), with the samples it carries.
type request struct {
	raw     []byte
	samples int
	v2      bool
}

// unsupportedV2 is a receiver that does not take remote write 2.0.
type unsupportedV2 struct{ status, msg string }

func (u unsupportedV2) Error() string {
	return "the receiver does not accept remote write 2.0: " + u.status + ": " + u.msg
}

// deliverV2 sends some queued batches as remote write 2.0 requests: the batches merged into one push,
// translated once (interned symbols; type, unit and help per series), cut into requests of at most
// max_samples_per_request samples that each carry the symbols table. It returns unsupportedV2 when
// the receiver does not take 2.0 (then nothing of these batches counts as sent, and deliver sends
// them as 1.0).
func (e *rwExporter) deliverV2(ctx context.Context, items [][]byte, resumed bool) (bool, error) {
	md := pmetric.NewMetrics()
	for _, b := range items {
		if one, ok := e.readBatch(ctx, b); ok {
			one.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		}
	}
	tsMap, symbols, err := prometheusremotewrite.FromMetricsV2(md, e.settings)
	if err != nil {
		e.logOnce("translation", "Some metrics could not be translated to Prometheus series and were dropped", zap.Error(err))
	}
	if withExemplars, ok := histogramsWithExemplars(md); ok {
		e.addBucketExemplars(withExemplars, tsMap, &symbols)
	}
	for _, req := range splitV2(tsMap, symbols.Symbols(), e.cfg.MaxSamplesPerRequest) {
		raw, err := req.Marshal()
		if err != nil {
			e.logOnce("encoding", "A remote-write request cannot be encoded; its samples are dropped", zap.Error(err))
			continue
		}
		ok, err := e.sendWithRetry(ctx, request{raw: raw, samples: samplesInV2(req), v2: true}, resumed)
		if err != nil || !ok {
			return ok, err
		}
	}
	return true, nil
}

// splitV2 packs series into requests of at most maxSamples samples; a longer series is cut into
// consecutive pieces. Every request carries the whole symbols table (the series' references index it).
func splitV2(tsMap map[string]*writev2.TimeSeries, symbols []string, maxSamples int) []*writev2.Request {
	var out []*writev2.Request
	cur := &writev2.Request{Symbols: symbols}
	n := 0
	for _, ts := range tsMap {
		samples, histograms := ts.Samples, ts.Histograms
		for len(samples) > 0 || len(histograms) > 0 {
			if n >= maxSamples {
				out = append(out, cur)
				cur, n = &writev2.Request{Symbols: symbols}, 0
			}
			piece := *ts
			take := min(maxSamples-n, len(samples))
			piece.Samples, samples = samples[:take], samples[take:]
			h := min(maxSamples-n-take, len(histograms))
			piece.Histograms, histograms = histograms[:h], histograms[h:]
			cur.Timeseries = append(cur.Timeseries, piece)
			n += take + h
		}
	}
	if len(cur.Timeseries) > 0 {
		out = append(out, cur)
	}
	return out
}

func samplesInV2(req *writev2.Request) int {
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

// writtenV2 reads a 2.0 receiver's account of what it wrote (X-Prometheus-Remote-Write-Samples-Written
// and -Histograms-Written): samples it took the request for but did not write are dropped, counted
// and logged once. Without the headers (a receiver that does not say), all were written.
func (e *rwExporter) writtenV2(ctx context.Context, h http.Header, sent int64) int64 {
	s, okS := headerInt(h, "X-Prometheus-Remote-Write-Samples-Written")
	hist, okH := headerInt(h, "X-Prometheus-Remote-Write-Histograms-Written")
	if !okS && !okH {
		return sent
	}
	written := s + hist
	if written < sent {
		e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, sent-written, metric.WithAttributes(attribute.String("reason", "not_written")))
		e.logOnce("not_written", "The remote-write 2.0 receiver accepted a request but wrote fewer samples than it carried; the rest are dropped (counted in otelcol_exporter_remote_write_samples_dropped{reason=\"not_written\"})",
			zap.Int64("sent", sent), zap.Int64("written", written))
		return written
	}
	return sent
}

func headerInt(h http.Header, key string) (int64, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// hasWrittenHeaders: the response carries a 2.0 receiver's written counts.
func hasWrittenHeaders(h http.Header) bool {
	return h.Get("X-Prometheus-Remote-Write-Samples-Written") != "" || h.Get("X-Prometheus-Remote-Write-Histograms-Written") != ""
}

// histogramsWithExemplars copies out the explicit-bucket histograms whose points carry exemplars,
// with their resources and scopes (so that they translate to the same series); ok is false when
// there are none.
func histogramsWithExemplars(md pmetric.Metrics) (pmetric.Metrics, bool) {
	out := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		var outRM pmetric.ResourceMetrics
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			var outSM pmetric.ScopeMetrics
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Type() != pmetric.MetricTypeHistogram || !anyExemplar(m.Histogram().DataPoints()) {
					continue
				}
				if outRM == (pmetric.ResourceMetrics{}) {
					outRM = out.ResourceMetrics().AppendEmpty()
					rms.At(i).Resource().CopyTo(outRM.Resource())
				}
				if outSM == (pmetric.ScopeMetrics{}) {
					outSM = outRM.ScopeMetrics().AppendEmpty()
					sms.At(j).Scope().CopyTo(outSM.Scope())
				}
				m.CopyTo(outSM.Metrics().AppendEmpty())
			}
		}
	}
	return out, out.ResourceMetrics().Len() > 0
}

func anyExemplar(dps pmetric.HistogramDataPointSlice) bool {
	for i := 0; i < dps.Len(); i++ {
		if dps.At(i).Exemplars().Len() > 0 {
			return true
		}
	}
	return false
}

// addBucketExemplars gives the 2.0 bucket series the exemplars that contrib's 2.0 translator leaves
// out of explicit-bucket histograms (its 1.0 translator attaches each to its bucket): the histograms
// that carry exemplars (only those) are translated as 1.0 too, and every 1.0 series with exemplars
// lends them to the 2.0 series with the same labels. Our own encoder (issue 15) will make it
// unnecessary.
func (e *rwExporter) addBucketExemplars(md pmetric.Metrics, tsMap map[string]*writev2.TimeSeries, symbols *writev2.SymbolsTable) {
	v1, _ := prometheusremotewrite.FromMetrics(md, e.settings)
	withExemplars := map[string]*prompb.TimeSeries{}
	for _, ts := range v1 {
		if len(ts.Exemplars) > 0 {
			withExemplars[signature(ts.Labels)] = ts
		}
	}
	if len(withExemplars) == 0 {
		return
	}
	table := symbols.Symbols()
	for _, ts := range tsMap {
		if len(ts.Exemplars) > 0 {
			continue
		}
		ls := make([]prompb.Label, 0, len(ts.LabelsRefs)/2)
		for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
			ls = append(ls, prompb.Label{Name: table[ts.LabelsRefs[i]], Value: table[ts.LabelsRefs[i+1]]})
		}
		src, ok := withExemplars[signature(ls)]
		if !ok {
			continue
		}
		for _, ex := range src.Exemplars {
			refs := make([]uint32, 0, 2*len(ex.Labels))
			for _, l := range ex.Labels {
				refs = append(refs, symbols.Symbolize(l.Name), symbols.Symbolize(l.Value))
			}
			ts.Exemplars = append(ts.Exemplars, writev2.Exemplar{LabelsRefs: refs, Value: ex.Value, Timestamp: ex.Timestamp})
		}
	}
}
