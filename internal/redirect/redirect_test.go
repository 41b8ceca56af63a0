package redirect

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSameHost(t *testing.T) {
	req := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		return &http.Request{URL: u}
	}
	from := []*http.Request{req("http://10.0.0.5:8000/metrics")}
	for to, ok := range map[string]bool{
		"http://10.0.0.5:8000/metrics/":          true,
		"https://10.0.0.5/metrics":               true, // an upgrade of the same host
		"http://10.0.0.6:8000/metrics":           false,
		"http://10.0.0.5:9000/metrics":           false,
		"http://user:pw@evil.example:8000/steal": false,
	} {
		err := SameHost(req(to), from)
		if ok {
			require.NoError(t, err, to)
			continue
		}
		require.ErrorIs(t, err, ErrRefused, to)
		assert.NotContains(t, err.Error(), "pw@", "the Location's credentials are hidden")
	}
	secure := []*http.Request{req("https://h/metrics")}
	require.ErrorIs(t, SameHost(req("http://h/metrics"), secure), ErrRefused, "https → http")
	require.NoError(t, SameHost(req("https://H/other"), secure), "host names are case-insensitive")
	many := make([]*http.Request, maxHops)
	for i := range many {
		many[i] = req("http://h/")
	}
	require.ErrorIs(t, SameHost(req("http://h/x"), many), ErrRefused)
}

// Through a real client with a header a round-tripper adds on every hop (as confighttp's auth and
// headers do): the same-host redirect is followed with it, the cross-host one is refused and the
// other host is never asked.
func TestCredentialsStayOnTheirHost(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var sawToken atomic.Value
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/metrics", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/metrics", http.StatusFound)
		case "/metrics":
			sawToken.Store(r.Header.Get("X-Token"))
		}
	}))
	defer origin.Close()
	client := &http.Client{Transport: addHeader{http.DefaultTransport}, CheckRedirect: SameHost}
	resp, err := client.Get(origin.URL + "/same")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "s3cret", sawToken.Load())
	_, err = client.Get(origin.URL + "/cross")
	require.ErrorIs(t, err, ErrRefused)
	assert.Zero(t, elsewhere.Load(), "the other host got nothing")
}

type addHeader struct{ next http.RoundTripper }

func (a addHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Token", "s3cret")
	return a.next.RoundTrip(r)
}

func TestNone(t *testing.T) {
	assert.ErrorIs(t, None(nil, nil), http.ErrUseLastResponse)
}
