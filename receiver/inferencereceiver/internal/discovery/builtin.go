package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

// Builtin are the rules for the servers the receiver knows, from each project's launch commands,
// flags and images as their current sources define them (testdata/discovery/SOURCES.md cites
// each). The first rule that matches wins, so more specific rules come first.
func Builtin() []Rule {
	return []Rule{
		{
			// NVIDIA Dynamo's frontend (`python -m dynamo.frontend`): HTTP and /metrics on --http-port.
			Name:    "dynamo-frontend",
			Modules: []string{"dynamo.frontend"},
			Ports:   []PortSource{{Flags: []string{"--http-port"}, Env: []string{"DYN_HTTP_PORT"}, Default: 8000}},
			Images:  []string{"nvidia/ai-dynamo/*"},
		},
		{
			// Dynamo's workers (`python -m dynamo.vllm|sglang|trtllm`): /metrics on the system
			// status server, on DYN_SYSTEM_PORT (off by default; Dynamo's operator sets 9090).
			Name:    "dynamo-worker",
			Modules: []string{"dynamo.vllm", "dynamo.sglang", "dynamo.trtllm", "dynamo.mocker"},
			Ports:   []PortSource{{Env: []string{"DYN_SYSTEM_PORT"}}},
			Hint:    "set DYN_SYSTEM_PORT for the worker's system server and its /metrics",
		},
		{
			// vLLM: `vllm serve MODEL` (the console script; the image's entrypoint is
			// ["vllm", "serve"]). With --api-server-count > 1 the API servers rename themselves
			// VLLM::APIServer_N and share the main process's socket: one server.
			Name:        "vllm",
			Executables: []string{"vllm"},
			Args:        []string{"serve"},
			Ports:       []PortSource{{Flags: []string{"--port"}, Default: 8000}},
			Images:      []string{"vllm/vllm-openai", "vllm/vllm-openai-*"},
		},
		{
			// vLLM's older (deprecated) module form.
			Name:    "vllm-module",
			Modules: []string{"vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"},
			Ports:   []PortSource{{Flags: []string{"--port"}, Default: 8000}},
		},
		{
			// SGLang: `sglang serve` (console script) or `python -m sglang.launch_server`; metrics
			// need --enable-metrics.
			Name:        "sglang",
			Modules:     []string{"sglang.launch_server"},
			Executables: []string{"sglang"},
			Ports:       []PortSource{{Flags: []string{"--port"}, Default: 30000}},
			Images:      []string{"lmsysorg/sglang"},
			Hint:        "start SGLang with --enable-metrics",
		},
		{
			// TGI: text-generation-launcher starts text-generation-router (and -llamacpp, … for
			// other backends), which serves HTTP and /metrics on --port (PORT; the image sets 80).
			// The three processes share the comm "text-generation"; argv[0] tells them apart.
			Name:        "tgi",
			Executables: []string{"text-generation-router*"},
			Ports:       []PortSource{{Flags: []string{"--port"}, Env: []string{"PORT"}, Default: 3000}},
			Images:      []string{"huggingface/text-generation-inference"},
		},
		{
			// TEI: text-embeddings-router (text-embeddings-router-NN in the CUDA images): /metrics on
			// --port; the gRPC build serves it on --prometheus-port (9000) only.
			Name:        "tei",
			Executables: []string{"text-embeddings-router*"},
			Ports: []PortSource{
				{Flags: []string{"--port"}, Env: []string{"PORT"}, Default: 3000},
				{Flags: []string{"--prometheus-port"}, Env: []string{"PROMETHEUS_PORT"}, Default: 9000},
			},
			Images: []string{"huggingface/text-embeddings-inference"},
		},
		{
			// Triton: /metrics on --metrics-port (8002) only.
			Name:        "triton",
			Executables: []string{"tritonserver"},
			Ports:       []PortSource{{Flags: []string{"--metrics-port"}, Default: 8002}},
			Images:      []string{"nvidia/tritonserver"},
			Hint:        "Triton serves metrics unless --allow-metrics=false",
		},
		{
			// llama.cpp's llama-server: /metrics needs --metrics (LLAMA_ARG_ENDPOINT_METRICS).
			// Ollama (v0.30 and later) runs its models in llama-server children without metrics:
			// those are Ollama's, read through Ollama's API.
			Name:        "llamacpp",
			Executables: []string{"llama-server"},
			Ports:       []PortSource{{Flags: []string{"--port"}, Env: []string{"LLAMA_ARG_PORT"}, Default: 8080}},
			Images:      []string{"ggml-org/llama.cpp"},
			Hint:        "start llama-server with --metrics",
			NotUnder:    []string{"ollama"},
		},
		{
			// Ollama: `ollama serve` (its model runners, `ollama runner` or llama-server children,
			// are not servers), read through its API (/api/ps) on OLLAMA_HOST.
			Name:        "ollama",
			Flavor:      FlavorOllama,
			Executables: []string{"ollama"},
			Args:        []string{"serve"},
			Ports:       []PortSource{{Env: []string{"OLLAMA_HOST"}, Default: 11434}},
			Paths:       []string{"/api/ps"},
			Images:      []string{"ollama/ollama"},
		},
		{
			// TensorRT-LLM's trtllm-serve: Prometheus metrics at /prometheus/metrics (its /metrics is
			// JSON iteration stats), with return_perf_metrics: true in its LLM API options.
			Name:        "trtllm",
			Executables: []string{"trtllm-serve"},
			Ports:       []PortSource{{Flags: []string{"--port"}, Default: 8000}},
			Paths:       []string{"/prometheus/metrics"},
			Images:      []string{"nvidia/tensorrt-llm/release"},
			Hint:        "set return_perf_metrics: true in trtllm-serve's --config (--extra_llm_api_options) file",
		},
		{
			// LMDeploy: `lmdeploy serve api_server` or its module; /metrics on --server-port
			// (on by default since v0.14; --enable-metrics before).
			Name:        "lmdeploy",
			Executables: []string{"lmdeploy"},
			Modules:     []string{"lmdeploy.serve.openai.api_server"},
			Args:        []string{"serve", "api_server"},
			Ports:       []PortSource{{Flags: []string{"--server-port"}, Default: 23333}},
			Images:      []string{"openmmlab/lmdeploy"},
			Hint:        "LMDeploy serves metrics unless --disable-metrics (before v0.14: start it with --enable-metrics)",
		},
		{
			// NVIDIA NIM containers: /v1/metrics on 8000.
			Name:   "nim",
			Ports:  []PortSource{{Env: []string{"NIM_SERVER_PORT"}, Default: 8000}},
			Paths:  []string{"/v1/metrics", "/metrics"},
			Images: []string{"nim/*/*"},
		},
	}
}
