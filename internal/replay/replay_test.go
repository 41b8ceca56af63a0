package replay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVLLMSplicesCountsAndStep(t *testing.T) {
	tmpl, err := os.ReadFile("../../testdata/modelservers/vllm/datadog-vllm_metrics.txt")
	require.NoError(t, err)
	out := string(VLLM(tmpl, "m", 7, Counts{Length: 1, Stop: 2, Abort: 3, Error: 4}))
	assert.NotContains(t, out, `vllm:request_success_total{finished_reason="length",model_name="facebook/opt-125m"} 1.0`)
	assert.Contains(t, out, `vllm:request_success_total{finished_reason="error",model_name="m"} 4`+"\n")
	assert.Contains(t, out, "replay_step 7\n")
	assert.Equal(t, 1, strings.Count(out, "# TYPE vllm:request_success_total counter"))
}

func TestHandlerAdvancesThenRepeatsLast(t *testing.T) {
	srv := httptest.NewServer(NewHandler([][]byte{[]byte("a 1\n"), []byte("a 2\n")}))
	defer srv.Close()
	var got []string
	for range 3 {
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(b))
	}
	assert.Equal(t, []string{"a 1\n", "a 2\n", "a 2\n"}, got)
}

func TestFilesServesRoutesAnd404(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/stats.json"
	require.NoError(t, os.WriteFile(f, []byte(`{"a":1}`), 0o600))
	h, err := Files(map[string]Route{"/stats": {File: f, ContentType: "application/json"}, "/plain": {File: f}})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stats")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, `{"a":1}`, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	resp, err = http.Get(srv.URL + "/plain")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), "Go's sniffed default")

	resp, err = http.Get(srv.URL + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	_, err = Files(map[string]Route{"/gone": {File: dir + "/missing"}})
	require.ErrorContains(t, err, "route /gone")
}
