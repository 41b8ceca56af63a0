// Package discovery owns finding model servers without a configured list: processes of this host
// (through /proc: their command lines and listening sockets) and pods of this Kubernetes node
// (through a client-go informer), recognized by rules (rules.go, builtin.go), their metrics
// endpoints confirmed by a probe. It reports each source's whole set of endpoints whenever it may
// have changed; the receiver turns endpoints into scraped servers.
package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Sources of discovered endpoints (the value of inference.discovery.source in logs and telemetry).
const (
	SourceHost       = "host"
	SourceKubernetes = "kubernetes"
)

// Source is a source of endpoints: Run reports its whole set whenever it may have changed, until
// ctx is done.
type Source interface {
	Run(ctx context.Context, report func([]Endpoint))
}

// RuleAnnotations names the endpoints found by the prometheus.io/scrape annotation.
const RuleAnnotations = "annotations"

// Kubernetes API authentication (auth_type).
const (
	AuthServiceAccount = "serviceAccount"
	AuthKubeConfig     = "kubeConfig"
)

// KubeOptions configure the Kubernetes source.
type KubeOptions struct {
	// AuthType is AuthServiceAccount (in a pod) or AuthKubeConfig (KubeConfig: a path, else
	// $KUBECONFIG, else ~/.kube/config).
	AuthType, KubeConfig string
	// Node is this node's name: only its pods are watched (spec.nodeName).
	Node string
	// Rules recognize model-server containers by image or command.
	Rules []Rule
	// Annotations turns on pods annotated prometheus.io/scrape: "true".
	Annotations bool
	// Interval is how often pods whose containers served no metrics yet are probed again.
	Interval time.Duration
	Prober   *Prober
	Logger   *zap.Logger
}

// FlavorOllama is the one flavor a rule must pin: Ollama serves an API, not a metrics payload.
const FlavorOllama = "ollama"

// Endpoint is one model server found, scraped like a configured one.
type Endpoint struct {
	// URL is where it is scraped (the key of an endpoint across refreshes).
	URL string
	// Name is its inference.server.name: rule and port on a host (vllm-8000), namespace/pod:port
	// on Kubernetes.
	Name string
	// Flavor is pinned by the rule ("" detects it from the payload).
	Flavor string
	// Source is SourceHost or SourceKubernetes; Rule the rule that recognized it ("annotations" for
	// a pod annotated prometheus.io/scrape).
	Source string
	Rule   string
	// Resource are more resource attributes (k8s.*, process.*).
	Resource map[string]string
	// PIDs are the host processes that serve it (the GPU join); PodUID the pod (Kubernetes).
	PIDs   []int
	PodUID string
}

// Equal reports whether two reports of an endpoint say the same.
func (e *Endpoint) Equal(o *Endpoint) bool {
	if e.URL != o.URL || e.Name != o.Name || e.Flavor != o.Flavor || e.Source != o.Source || e.Rule != o.Rule || e.PodUID != o.PodUID {
		return false
	}
	if !slices.Equal(e.PIDs, o.PIDs) || len(e.Resource) != len(o.Resource) {
		return false
	}
	for k, v := range e.Resource {
		if ov, ok := o.Resource[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// sortEndpoints orders a report by URL (stable logs and tests).
func sortEndpoints(eps []Endpoint) {
	slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.URL, b.URL) })
}
