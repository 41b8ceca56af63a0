package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/errkind"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
)

// probeAccept is what a probe asks for (as a scrape does).
const probeAccept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// maxProbeBody bounds what a probe reads of one answer.
const maxProbeBody = 8 << 20

// Prober asks a candidate endpoint whether it serves metrics.
type Prober struct {
	// Client makes the requests (the discovered servers' client: their auth, TLS and headers).
	Client *http.Client
	// Timeout bounds one probe.
	Timeout time.Duration
}

// probeResult is what one probe found.
type probeResult int

const (
	// probeMetrics: a metrics payload (or the API the flavor is read through).
	probeMetrics probeResult = iota
	// probeAuth: the path needs credentials (401/403): a server the user must give them for.
	probeAuth
	// probeNotMetrics: something answered, but not with metrics there (404, HTML, JSON).
	probeNotMetrics
	// probeUnreachable: nothing answered (refused, timed out): tried again later.
	probeUnreachable
)

// probe GETs rawURL and says whether it is a metrics endpoint of the flavor ("" for any Prometheus
// payload; ollama: its /api/ps API). The error says why not.
func (p *Prober) probe(ctx context.Context, rawURL, flavor string) (probeResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return probeNotMetrics, err
	}
	// A probe is once: its connection is not kept (200 idle connections would hold buffers and two
	// goroutines each).
	req.Close = true
	req.Header.Set("Accept", probeAccept)
	if flavor == FlavorOllama {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errkind.Transport(err) == errkind.Connection && !errors.Is(err, io.EOF) {
			// An answer that is not HTTP (a gRPC or ZMQ port): not a metrics endpoint.
			return probeNotMetrics, err
		}
		return probeUnreachable, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return probeAuth, fmt.Errorf("%s", resp.Status)
	case resp.StatusCode/100 != 2:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return probeNotMetrics, fmt.Errorf("%s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody+1))
	if err != nil {
		return probeUnreachable, err
	}
	if len(body) > maxProbeBody {
		return probeNotMetrics, fmt.Errorf("the answer is larger than %d bytes", maxProbeBody)
	}
	if flavor == FlavorOllama {
		var ps struct {
			Models *json.RawMessage `json:"models"`
		}
		if json.Unmarshal(body, &ps) != nil || ps.Models == nil {
			return probeNotMetrics, fmt.Errorf(`not Ollama's /api/ps (no "models" list)`)
		}
		return probeMetrics, nil
	}
	payload, err := exposition.NewParser().Parse(bytes.Clone(body), resp.Header.Get("Content-Type"))
	if err != nil {
		return probeNotMetrics, fmt.Errorf("not a Prometheus metrics payload: %w", err)
	}
	if payload.SeriesCount() == 0 {
		return probeNotMetrics, errors.New("a metrics payload without a series")
	}
	return probeMetrics, nil
}

// endpointURL is the URL a server found at host:port is scraped at (Ollama's is its base URL: the
// receiver adds /api/ps).
func endpointURL(scheme, host string, port int, path, flavor string) string {
	u := url.URL{Scheme: scheme, Host: joinHostPort(host, port), Path: path}
	if flavor == FlavorOllama {
		u.Path = ""
	}
	return u.String()
}

func probeURL(scheme, host string, port int, path string) string {
	u := url.URL{Scheme: scheme, Host: joinHostPort(host, port), Path: path}
	return u.String()
}

func joinHostPort(host string, port int) string {
	if bytes.IndexByte([]byte(host), ':') >= 0 {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// tracked is what is kept of a recognized process or container between refreshes: its metrics
// endpoint once a probe found it, and when to probe again while none was.
type tracked struct {
	rule *Rule
	// found is the candidate where metrics were found, url the endpoint scraped there.
	found *candidate
	url   string
	// nextProbe is when it may be probed again; backoff the wait after the next failure.
	nextProbe time.Time
	backoff   time.Duration
	// said is the last reason logged for not scraping it (each said once).
	said string
	seen bool
}

// candidate is a port a server listens on, with the address to reach it at.
type candidate struct {
	host string
	port int
}

// update takes this refresh's candidates: a found endpoint whose port is no longer among them is
// forgotten (probed again at once). It reports whether a probe is due.
func (t *tracked) update(now time.Time, cands []candidate) bool {
	t.seen = true
	if t.found != nil && !slices.Contains(cands, *t.found) {
		t.found, t.url, t.nextProbe = nil, "", time.Time{}
	}
	return t.found == nil && len(cands) > 0 && !now.Before(t.nextProbe)
}

// say logs why once (until another reason, or a found endpoint).
func (t *tracked) say(why string, log func(string)) {
	if t.said == why {
		return
	}
	t.said = why
	log(why)
}

// probeJob is one process or container whose candidates are probed; log says why it is not
// scraped.
type probeJob struct {
	t     *tracked
	cands []candidate
	log   func(why string)
}

// probeAll probes jobs (a few at once), each candidate and path in order until one serves metrics,
// then sets when those that served none are probed again: at the next refresh while nothing
// answers (a server loading its model), backing off to maxBackoff while something answers without
// metrics.
func (p *Prober) probeAll(ctx context.Context, now time.Time, interval time.Duration, jobs []*probeJob) {
	slots := make(chan struct{}, parallelProbes)
	var wg sync.WaitGroup
	for _, j := range jobs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			p.probeOne(ctx, j)
		})
	}
	wg.Wait()
	for _, j := range jobs {
		t := j.t
		if t.found != nil {
			t.backoff, t.said = 0, ""
			continue
		}
		if t.backoff == 0 {
			t.backoff = interval
		} else {
			t.backoff = min(2*t.backoff, maxBackoff)
		}
		t.nextProbe = now.Add(t.backoff)
	}
}

func (p *Prober) probeOne(ctx context.Context, j *probeJob) {
	rule := j.t.rule
	var tried []string
	var last error
	unreachable := true
	for _, c := range j.cands {
		for _, path := range rule.paths() {
			if ctx.Err() != nil {
				return
			}
			pctx, cancel := context.WithTimeout(ctx, p.Timeout)
			res, err := p.probe(pctx, probeURL("http", c.host, c.port, path), rule.Flavor)
			cancel()
			switch res {
			case probeMetrics, probeAuth:
				found := c
				j.t.found = &found
				j.t.url = endpointURL("http", c.host, c.port, path, rule.Flavor)
				return
			case probeNotMetrics:
				unreachable = false
			}
			tried = append(tried, probeURL("http", c.host, c.port, path))
			last = err
		}
	}
	if unreachable {
		return // nothing answers yet: probed again at the next refresh
	}
	why := fmt.Sprintf("it serves no metrics at %s (%v)", strings.Join(tried, ", "), last)
	if rule.Hint != "" {
		why += "; " + rule.Hint
	}
	j.t.say(why, j.log)
}
