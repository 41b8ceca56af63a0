package redact

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:s3cret@host:9090/api/v1/write":              "http://xxxxx@host:9090/api/v1/write",
		"https://onlyuser@host/metrics":                          "https://xxxxx@host/metrics",
		"http://host/metrics?token=s3cret&x=1":                   "http://host/metrics?token=xxxxx&x=1",
		"http://host/v1?api_key=s3cret":                          "http://host/v1?api_key=xxxxx",
		"http://host/w?X-Amz-Signature=abc&X-Amz-Credential=AKI": "http://host/w?X-Amz-Credential=AKI&X-Amz-Signature=xxxxx",
		"http://host/metrics?accessToken=s3cret":                 "http://host/metrics?accessToken=xxxxx",
		"http://127.0.0.1:8000/metrics":                          "http://127.0.0.1:8000/metrics",
		"http://host/metrics?model=a&format=b":                   "http://host/metrics?model=a&format=b",
		"":                                                       "",
	} {
		assert.Equal(t, want, URL(in), in)
	}
	// Not a URL: scrubbed as text.
	assert.NotContains(t, URL("http://u:p@ss@host:bad port/"), "p@ss")
}

func TestString(t *testing.T) {
	msg := `Post "http://admin:hunter2@10.0.0.5:9090/api/v1/write?token=abc123&tenant=a": dial tcp: connection refused`
	got := String(msg)
	assert.NotContains(t, got, "hunter2")
	assert.NotContains(t, got, "admin")
	assert.NotContains(t, got, "abc123")
	assert.Contains(t, got, "tenant=a")
	assert.Contains(t, got, "10.0.0.5:9090/api/v1/write")
	assert.Equal(t, "no url here = fine", String("no url here = fine"))
	assert.Equal(t, "mail me at a@b.c", String("mail me at a@b.c"))
	assert.Empty(t, Error(nil))
	err := fmt.Errorf("scrape: %w", errors.New(`GET "https://u:pw@h/m": 401`))
	assert.NotContains(t, Error(err), "pw@")
}

// What net/http itself writes into its errors is scrubbed too (it hides the password of userinfo
// as *** but keeps the user, and keeps query parameters).
func TestHTTPClientErrors(t *testing.T) {
	_, err := http.Get("http://reader:topsecret@127.0.0.1:1/metrics?token=abc")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	got := Error(err)
	assert.NotContains(t, got, "reader")
	assert.NotContains(t, got, "topsecret")
	assert.NotContains(t, got, "abc")
}

func TestWrapKeepsTheCause(t *testing.T) {
	cause := errors.New(`dial "http://u:pw@h": refused`)
	err := Wrap(cause)
	require.ErrorIs(t, err, cause)
	assert.NotContains(t, err.Error(), "pw")
	assert.NoError(t, Wrap(nil))
}
