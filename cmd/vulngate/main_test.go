package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	in := `{"config":{"protocol_version":"v1.0.0"}}
{"finding":{"osv":"GO-2026-6599","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8"}]}}
{"finding":{"osv":"GO-2026-6599","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"html/template","function":"Execute"}]}}
{"finding":{"osv":"GO-2026-6443","fixed_version":"v1.83.2","trace":[{"module":"google.golang.org/grpc","version":"v1.83.0","package":"google.golang.org/grpc"}]}}
{"finding":{"osv":"GO-2026-6865","fixed_version":"v1.20.2","trace":[{"module":"github.com/klauspost/compress","version":"v1.19.1","package":"github.com/klauspost/compress/s2","function":"EncodeSnappy"}]}}
`
	found, err := read(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, map[string]called{
		"GO-2026-6599": {module: "stdlib", version: "1.26.8", fixed: "v1.26.9"},
		"GO-2026-6865": {module: "github.com/klauspost/compress", version: "1.19.1", fixed: "v1.20.2"},
	}, found, "only what is called; grpc's is imported, not called")
	assert.Equal(t, 1, countModules(found))
	_, err = read(strings.NewReader(""))
	require.Error(t, err, "no output is not a pass")
}
