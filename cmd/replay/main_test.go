package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestImitate(t *testing.T) {
	im, ok := imitate([]string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-0.6B", "--port", "8123"}, "td")
	assert.True(t, ok)
	assert.Equal(t, imitation{listen: "127.0.0.1:8123", payload: "td/vllm/datadog-vllm_metrics.txt", model: "Qwen/Qwen3-0.6B", vllm: true}, im)
	im, ok = imitate([]string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--port=30001", "--host", "0.0.0.0", "--enable-metrics"}, "td")
	assert.True(t, ok)
	assert.Equal(t, imitation{listen: "0.0.0.0:30001", payload: "td/sglang/datadog-sglang_metrics.txt", model: "m"}, im)
	_, ok = imitate([]string{"replay", "-listen", "127.0.0.1:9"}, "td")
	assert.False(t, ok)
}
