package envprovider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

func retrieve(t *testing.T, uri string) (any, error) {
	t.Helper()
	p := NewFactory().Create(confmap.ProviderSettings{Logger: zap.NewNop()})
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()
	r, err := p.Retrieve(context.Background(), uri, nil)
	if err != nil {
		return nil, err
	}
	return r.AsRaw()
}

func TestRequiredVariable(t *testing.T) {
	t.Setenv("OI_TEST_TOKEN", "s3cret")
	v, err := retrieve(t, "env:OI_TEST_TOKEN:?the gateway's bearer token")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", v)

	_, err = retrieve(t, "env:OI_TEST_UNSET:?the gateway's bearer token (see otelcol-dist/gateway.yaml)")
	require.EqualError(t, err, "environment variable OI_TEST_UNSET is not set: the gateway's bearer token (see otelcol-dist/gateway.yaml)")
	t.Setenv("OI_TEST_EMPTY", "")
	_, err = retrieve(t, "env:OI_TEST_EMPTY:?")
	require.EqualError(t, err, "environment variable OI_TEST_EMPTY is not set: it is required")
}

// What the collector's own provider reads is read the same.
func TestUpstreamForms(t *testing.T) {
	t.Setenv("OI_TEST_PORT", "8080")
	v, err := retrieve(t, "env:OI_TEST_PORT")
	require.NoError(t, err)
	assert.Equal(t, 8080, v)
	v, err = retrieve(t, "env:OI_TEST_UNSET:-127.0.0.1:13133")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:13133", v)
	_, err = retrieve(t, "file:/etc/passwd")
	require.Error(t, err)
}
