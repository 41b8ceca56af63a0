package discovery

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commandCase is one launch command line of testdata/discovery/commands.json.
type commandCase struct {
	Rule   string            `json:"rule"`
	Comm   string            `json:"comm"`
	Argv   []string          `json:"argv"`
	Env    map[string]string `json:"env"`
	Ports  []int             `json:"ports"`
	Source string            `json:"source"`
}

func readCommands(t *testing.T) []commandCase {
	t.Helper()
	b, err := os.ReadFile("../../../../testdata/discovery/commands.json")
	require.NoError(t, err)
	var cases []commandCase
	require.NoError(t, json.Unmarshal(b, &cases))
	require.NotEmpty(t, cases)
	return cases
}

// Each recorded launch command is recognized by its rule, and only by it; the ports its rule reads
// from it are the ones its source defines. What is not a model server (engine subprocesses, the
// TGI launcher and shards, Ollama's runners, clients, shells, a plain HTTP server) is recognized
// by none.
func TestBuiltinRulesRecognizeLaunchCommands(t *testing.T) {
	rules := Builtin()
	h := &Host{opts: HostOptions{Rules: rules}}
	for _, c := range readCommands(t) {
		t.Run(c.Comm+" "+c.Rule, func(t *testing.T) {
			cmd := Command{Comm: c.Comm, Argv: c.Argv, Env: c.Env}
			r := h.match(cmd)
			if c.Rule == "" {
				assert.Nil(t, r, "%v (%s) must not be recognized; got rule %v", c.Argv, c.Source, r)
				return
			}
			require.NotNil(t, r, "%v (%s) is not recognized", c.Argv, c.Source)
			assert.Equal(t, c.Rule, r.Name, "%v (%s)", c.Argv, c.Source)
			ports := r.ports(cmd)
			if len(c.Ports) == 0 {
				assert.Empty(t, ports)
			} else {
				assert.Equal(t, c.Ports, ports, "%v (%s)", c.Argv, c.Source)
			}
		})
	}
}

// The built-in rules are valid, uniquely named, and every known server kind has one.
func TestBuiltinRulesAreValid(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Builtin() {
		require.NoError(t, r.Validate())
		assert.False(t, seen[r.Name], "rule %q twice", r.Name)
		seen[r.Name] = true
	}
	for _, want := range []string{"vllm", "sglang", "tgi", "tei", "triton", "llamacpp", "ollama", "trtllm", "lmdeploy", "dynamo-frontend", "dynamo-worker", "nim"} {
		assert.True(t, seen[want], "no rule for %s", want)
	}
}

func TestRuleValidateNamesTheProblem(t *testing.T) {
	for _, c := range []struct {
		rule Rule
		want string
	}{
		{Rule{}, `"name" must be set`},
		{Rule{Name: "x"}, `rule "x" matches nothing: give "executables", "modules" or "images"`},
		{Rule{Name: "x", Executables: []string{"x"}, Paths: []string{"metrics"}}, `path "metrics" must start with "/"`},
		{Rule{Name: "x", Executables: []string{"[x"}}, `pattern "[x"`},
		{Rule{Name: "x", Executables: []string{"x"}, Ports: []PortSource{{Default: 70000}}}, `port 70000 is not a TCP port`},
	} {
		assert.ErrorContains(t, c.rule.Validate(), c.want)
	}
}

func TestImageRepository(t *testing.T) {
	for image, want := range map[string]string{
		"vllm/vllm-openai:v0.11.0":                              "vllm/vllm-openai",
		"docker.io/vllm/vllm-openai@sha256:0123":                "vllm/vllm-openai",
		"ghcr.io/huggingface/text-generation-inference:3.3.4":   "huggingface/text-generation-inference",
		"nvcr.io/nvidia/tritonserver:25.10-py3":                 "nvidia/tritonserver",
		"localhost:5000/ollama/ollama":                          "ollama/ollama",
		"registry.local:5000/lmsysorg/sglang:latest":            "lmsysorg/sglang",
		"library/python:3.12":                                   "python",
		"nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8":            "nim/meta/llama-3.1-8b-instruct",
		"nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.0":           "nvidia/ai-dynamo/vllm-runtime",
		"ghcr.io/ggml-org/llama.cpp:server-cuda":                "ggml-org/llama.cpp",
		"nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc2":          "nvidia/tensorrt-llm/release",
		"ghcr.io/huggingface/text-embeddings-inference:89-1.9":  "huggingface/text-embeddings-inference",
		"openmmlab/lmdeploy:v0.16.0-cu12":                       "openmmlab/lmdeploy",
		"my-registry.example.com/team/custom-vllm-fork:2026-11": "team/custom-vllm-fork",
	} {
		assert.Equal(t, want, imageRepository(image), image)
	}
	rules := Builtin()
	match := func(image string) string {
		for i := range rules {
			if rules[i].MatchImage(image) {
				return rules[i].Name
			}
		}
		return ""
	}
	assert.Equal(t, "vllm", match("vllm/vllm-openai:latest"))
	assert.Equal(t, "nim", match("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8"))
	assert.Equal(t, "dynamo-frontend", match("nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.0"))
	assert.Equal(t, "tgi", match("ghcr.io/huggingface/text-generation-inference:3.3.4"))
	assert.Empty(t, match("python:3.12"))
	assert.Empty(t, match("nginx:1.27"))
}

func TestEnvPort(t *testing.T) {
	for v, want := range map[string]int{
		"8000": 8000, "0.0.0.0:11434": 11434, ":9000": 9000, "http://0.0.0.0:8080/": 8080,
		"[::]:11434": 11434, "": 0, "-1": 0, "abc": 0, "0.0.0.0": 0, "99999": 0,
	} {
		assert.Equal(t, want, envPort(v), v)
	}
}
