// Package redirect is the redirect policy of the HTTP clients the collector's components make to
// scrape and probe: a redirect is followed within the same host (as Prometheus follows a scrape's),
// never to another host nor from https to http, because the auth round-trippers and configured
// headers would add their credentials again on every hop. Remote write follows none (its exporter
// says so itself).
package redirect // import "github.com/otel-inference/collector/internal/redirect"

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/otel-inference/collector/internal/redact"
)

// maxHops bounds the redirects of one request, as net/http's default policy does.
const maxHops = 10

// ErrRefused is wrapped by the error of a redirect the policy does not follow.
var ErrRefused = errors.New("redirect not followed")

// SameHost is an http.Client CheckRedirect: it follows a redirect to the same host name and port
// (an http → https upgrade of the same host name too), and refuses one to another host, or from
// https to http, with an error that says where it pointed and what to set instead.
func SameHost(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first := via[0].URL
	to := req.URL
	shown := redact.URL(to.String())
	switch {
	case len(via) >= maxHops:
		return fmt.Errorf("%w: stopped after %d redirects (last to %s)", ErrRefused, len(via), shown)
	case first.Scheme == "https" && to.Scheme != "https":
		return fmt.Errorf("%w: redirected from https to %s: credentials would cross in the clear; set the endpoint to where the server answers", ErrRefused, shown)
	case !strings.EqualFold(first.Hostname(), to.Hostname()):
		return fmt.Errorf("%w: redirected to another host, %s: no credential or header is sent there; set the endpoint to where the server answers", ErrRefused, shown)
	case port(first) != port(to) && (first.Scheme != "http" || to.Scheme != "https"):
		return fmt.Errorf("%w: redirected to another port, %s; set the endpoint to where the server answers", ErrRefused, shown)
	}
	return nil
}

// None is an http.Client CheckRedirect that follows no redirect: the client returns the 3xx.
func None(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// port is a URL's port, its scheme's default when it has none.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}
