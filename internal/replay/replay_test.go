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
