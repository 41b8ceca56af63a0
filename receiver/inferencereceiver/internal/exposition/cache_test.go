package exposition

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestCacheBytesPerLine measures what the parser keeps per exposed line between scrapes (reported,
// and bounded loosely so that a regression that doubles it is seen).
func TestCacheBytesPerLine(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	var b strings.Builder
	b.WriteString("# TYPE app_requests_total counter\n")
	const n = 20_000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "app_requests_total{model=\"m%d\",route=\"/r%d\"} %d\n", i%100, i/100, i)
	}
	body := []byte(b.String())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	p := NewParser()
	if _, err := p.Parse(body, "text/plain"); err != nil {
		t.Fatal(err)
	}
	after := heap()
	perLine := float64(after-before) / n
	t.Logf("parser cache: %.0f B per line (%d lines)", perLine, len(p.cache))
	if perLine > 400 {
		t.Errorf("the parser keeps %.0f B per line", perLine)
	}
	runtime.KeepAlive(p)
}
