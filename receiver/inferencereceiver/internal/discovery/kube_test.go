//go:build !inference_nokube

package discovery

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"

	"github.com/otel-inference/collector/internal/testbed/fakekube"
)

// reports collects what a source reports.
type reports struct {
	mu   sync.Mutex
	last []Endpoint
	n    int
}

func (r *reports) report(eps []Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.n = eps, r.n+1
}

func (r *reports) urls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.last {
		out = append(out, e.URL)
	}
	return out
}

func (r *reports) endpoint(url string) Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.last {
		if e.URL == url {
			return e
		}
	}
	return Endpoint{}
}

// Kubernetes discovery through a real client-go informer against an API endpoint on loopback: only
// this node's pods are asked for (field selector); a pod annotated prometheus.io/scrape is scraped
// where its annotations say; a pod running a model-server image is probed and scraped where it
// serves metrics; a pod whose image is not a model server's, one annotated scrape: "false", one on
// another node, and one not running are not; pods that appear, change and go are followed, with
// their attributes on the endpoint.
func TestKubeFollowsThisNodesPods(t *testing.T) {
	api := fakekube.Start()
	defer api.Close()
	vllmPort, _ := metricsServer(t, "/metrics")
	annotatedPort, _ := metricsServer(t, "/custom")
	plainPort, plainHits := metricsServer(t, "/metrics")

	vllm := fakekube.Pod("serving", "vllm-0", "aaaa-1", "node-1", "127.0.0.1", corev1.Container{
		Name: "engine", Image: "vllm/vllm-openai:v0.11.0", Args: []string{"Qwen/Qwen3-0.6B", "--port", strconv.Itoa(vllmPort)},
	})
	annotated := fakekube.Pod("apps", "reranker-0", "bbbb-2", "node-1", "127.0.0.1", corev1.Container{Name: "app", Image: "example/reranker:1"})
	annotated.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(annotatedPort), "prometheus.io/path": "/custom"}
	plain := fakekube.Pod("apps", "web-0", "cccc-3", "node-1", "127.0.0.1", corev1.Container{
		Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: int32(plainPort)}},
	})
	optOut := fakekube.Pod("serving", "vllm-quiet", "dddd-4", "node-1", "127.0.0.1", corev1.Container{Name: "engine", Image: "vllm/vllm-openai:latest"})
	optOut.Annotations = map[string]string{"prometheus.io/scrape": "false"}
	elsewhere := fakekube.Pod("serving", "vllm-far", "eeee-5", "node-2", "127.0.0.1", corev1.Container{Name: "engine", Image: "vllm/vllm-openai:latest"})
	pending := fakekube.Pod("serving", "vllm-pending", "ffff-6", "node-1", "", corev1.Container{Name: "engine", Image: "vllm/vllm-openai:latest"})
	pending.Status.Phase = corev1.PodPending
	for _, p := range []*corev1.Pod{vllm, annotated, plain, optOut, elsewhere, pending} {
		api.Apply(p)
	}

	kubeconfig, err := api.WriteKubeconfig(t.TempDir())
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	k, err := NewKube(KubeOptions{
		AuthType: AuthKubeConfig, KubeConfig: kubeconfig, Node: "node-1", Rules: Builtin(), Annotations: true, Interval: 200 * time.Millisecond,
		Prober: &Prober{Client: &http.Client{}, Timeout: time.Second}, Logger: zap.New(core),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got reports
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx, got.report) }()

	vllmURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", vllmPort)
	annotatedURL := fmt.Sprintf("http://127.0.0.1:%d/custom", annotatedPort)
	require.Eventually(t, func() bool { return len(got.urls()) == 2 }, 10*time.Second, 20*time.Millisecond, "found: %v", got.urls())
	assert.ElementsMatch(t, []string{vllmURL, annotatedURL}, got.urls())
	e := got.endpoint(vllmURL)
	assert.Equal(t, Endpoint{
		URL: vllmURL, Name: fmt.Sprintf("serving/vllm-0:%d", vllmPort), Source: SourceKubernetes, Rule: "vllm", PodUID: "aaaa-1",
		Resource: map[string]string{
			"k8s.namespace.name": "serving", "k8s.pod.name": "vllm-0", "k8s.pod.uid": "aaaa-1", "k8s.node.name": "node-1",
			"k8s.container.name": "engine", "container.id": strings.Repeat("a", 64),
		},
	}, e)
	e = got.endpoint(annotatedURL)
	assert.Equal(t, RuleAnnotations, e.Rule)
	assert.Zero(t, plainHits.Load(), "a pod that is neither annotated nor a model server's is not probed")
	for _, q := range api.Requests() {
		assert.Contains(t, q, "fieldSelector=spec.nodeName%3Dnode-1", "only this node's pods are asked for")
	}

	// A pod starts on this node; one goes; one changes its annotations.
	newPort, _ := metricsServer(t, "/metrics")
	api.Apply(fakekube.Pod("serving", "sglang-0", "gggg-7", "node-1", "127.0.0.1", corev1.Container{
		Name: "sglang", Image: "lmsysorg/sglang:latest",
		Command: []string{"python3", "-m", "sglang.launch_server"}, Args: []string{"--model-path", "m", "--port", strconv.Itoa(newPort), "--enable-metrics"},
	}))
	api.Delete("serving", "vllm-0")
	annotated.Annotations["prometheus.io/scrape"] = "false"
	api.Apply(annotated)
	newURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", newPort)
	require.Eventually(t, func() bool {
		u := got.urls()
		return len(u) == 1 && u[0] == newURL
	}, 10*time.Second, 20*time.Millisecond, "found: %v", got.urls())
	e = got.endpoint(newURL)
	assert.Equal(t, "sglang", e.Rule)

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	assert.Empty(t, logs.FilterMessageSnippet("cannot list or watch").All())
}

// An API server that refuses the pods (a service account without RBAC for them) is said once, with
// its reason; discovery goes on once it may list them.
func TestKubeSaysOnceWhenThePodsAreForbidden(t *testing.T) {
	api := fakekube.Start()
	defer api.Close()
	api.Forbid(true)
	port, _ := metricsServer(t, "/metrics")
	api.Apply(fakekube.Pod("serving", "vllm-0", "aaaa-1", "node-1", "127.0.0.1", corev1.Container{
		Name: "engine", Image: "vllm/vllm-openai:v0.11.0", Args: []string{"m", "--port", strconv.Itoa(port)},
	}))
	kubeconfig, err := api.WriteKubeconfig(t.TempDir())
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	k, err := NewKube(KubeOptions{
		AuthType: AuthKubeConfig, KubeConfig: kubeconfig, Node: "node-1", Rules: Builtin(), Interval: time.Second,
		Prober: &Prober{Client: &http.Client{}, Timeout: time.Second}, Logger: zap.New(core),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got reports
	go k.Run(ctx, got.report)
	require.Eventually(t, func() bool { return len(api.Requests()) >= 3 }, 10*time.Second, 20*time.Millisecond)
	warned := logs.FilterMessageSnippet("cannot list or watch this node's pods").All()
	require.Len(t, warned, 1, "said once however often it is retried")
	assert.Contains(t, warned[0].ContextMap()["error"], "forbidden")
	api.Forbid(false)
	require.Eventually(t, func() bool { return len(got.urls()) == 1 }, 15*time.Second, 50*time.Millisecond)
	assert.Len(t, logs.FilterMessageSnippet("is watching this node's pods").All(), 1)
}

func TestKubeNeedsANode(t *testing.T) {
	_, err := NewKube(KubeOptions{})
	require.ErrorContains(t, err, `"node" must be set`)
	_, err = NewKube(KubeOptions{Node: "n", AuthType: AuthKubeConfig, KubeConfig: "/nonexistent/kubeconfig"})
	require.ErrorContains(t, err, "cannot read the kubeconfig")
	_, err = NewKube(KubeOptions{Node: "n"})
	require.ErrorContains(t, err, "not in a pod with a service account", "serviceAccount outside a pod says what to set")
	_, err = RESTConfig("token", "")
	assert.ErrorContains(t, err, `unknown auth_type "token"`)
}

// A container started through a shell is read command by command.
func TestContainerArgvsReadShells(t *testing.T) {
	c := &corev1.Container{Command: []string{"/bin/sh", "-c"}, Args: []string{"pip install x && exec vllm serve Qwen/Qwen3-8B --port 8123"}}
	r := Builtin()
	var matched *Rule
	for _, argv := range containerArgvs(c) {
		for i := range r {
			if r[i].matchProgram(parse("", argv)) {
				matched = &r[i]
			}
		}
	}
	require.NotNil(t, matched)
	assert.Equal(t, "vllm", matched.Name)
	cands := containerCandidates(&corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.7"}}, c, matched)
	assert.Equal(t, []candidate{{host: "10.0.0.7", port: 8123}}, cands)
}
