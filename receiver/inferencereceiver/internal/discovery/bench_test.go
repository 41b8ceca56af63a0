package discovery

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// BenchmarkHostScanThisMachine is one scan of this machine's real /proc (every process read, the
// rules matched; none probed unless a model server runs here).
func BenchmarkHostScanThisMachine(b *testing.B) {
	h, err := NewHost(HostOptions{Rules: Builtin(), Interval: time.Second, Prober: &Prober{Client: &http.Client{}, Timeout: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	procs, _ := h.fs.AllProcs()
	b.ReportMetric(float64(len(procs)), "processes")
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Scan(context.Background(), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
