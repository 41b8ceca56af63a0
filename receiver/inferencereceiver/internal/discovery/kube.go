//go:build !inference_nokube

package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// The annotations Prometheus users put on pods (the kubernetes_sd convention).
const (
	annotationScrape = "prometheus.io/scrape"
	annotationPort   = "prometheus.io/port"
	annotationPath   = "prometheus.io/path"
	annotationScheme = "prometheus.io/scheme"
)

// RESTConfig is how the collector reaches the Kubernetes API: the pod's service account
// (serviceAccount), or a kubeconfig file (kubeConfig: path, else $KUBECONFIG, else ~/.kube/config).
func RESTConfig(authType, kubeconfig string) (*rest.Config, error) {
	switch authType {
	case "", AuthServiceAccount:
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("discovery.kubernetes: not in a pod with a service account (%w); on another machine set auth_type: kubeConfig", err)
		}
		return cfg, nil
	case AuthKubeConfig:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if kubeconfig != "" {
			rules.ExplicitPath = kubeconfig
		}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("discovery.kubernetes: cannot read the kubeconfig: %w", err)
		}
		return cfg, nil
	}
	return nil, fmt.Errorf("discovery.kubernetes: unknown auth_type %q (use %s or %s)", authType, AuthServiceAccount, AuthKubeConfig)
}

// Kube finds the model servers among the pods of this node, watched through a client-go informer:
// a pod annotated prometheus.io/scrape: "true" is scraped where its annotations say (as Prometheus's
// kubernetes_sd users configure it); a running container one of the rules recognizes (its image, or
// its command and arguments) is probed on the ports its rule names and it declares, and scraped
// where a probe finds metrics. prometheus.io/scrape: "false" leaves a pod out.
type Kube struct {
	opts     KubeOptions
	informer cache.SharedIndexInformer
	changed  chan struct{}

	// containers are the recognized containers, by pod UID and container name.
	containers map[string]*tracked
	// watchErr is the last list/watch error logged (each distinct one once).
	mu       sync.Mutex
	watchErr string
}

// NewKube returns the Kubernetes source.
func NewKube(opts KubeOptions) (Source, error) {
	if opts.Node == "" {
		return nil, errors.New(`discovery.kubernetes: "node" must be set to this node's name (the chart sets it from the downward API: ${env:K8S_NODE_NAME})`)
	}
	restConfig, err := RESTConfig(opts.AuthType, opts.KubeConfig)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = "otelcol-inference"
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery.kubernetes: %w", err)
	}
	lw := cache.NewListWatchFromClient(client, "pods", metav1.NamespaceAll, fields.OneTermEqualSelector("spec.nodeName", opts.Node))
	k := &Kube{opts: opts, changed: make(chan struct{}, 1), containers: map[string]*tracked{}}
	k.informer = cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	// Only what discovery reads is kept of a pod.
	_ = k.informer.SetTransform(func(obj any) (any, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			pod.ManagedFields = nil
		}
		return obj, nil
	})
	_ = k.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if err.Error() == k.watchErr {
			return
		}
		k.watchErr = err.Error()
		k.opts.Logger.Warn("Kubernetes discovery cannot list or watch this node's pods; it retries (check the API server is reachable and the service account may get, list and watch pods)",
			zap.String("k8s.node.name", opts.Node), zap.Error(err))
	})
	notify := func(any) {
		select {
		case k.changed <- struct{}{}:
		default:
		}
	}
	_, _ = k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, n any) { notify(n) },
		DeleteFunc: notify,
	})
	return k, nil
}

// Run watches the pods until ctx is done, reporting the endpoints whenever a pod changes (and every
// interval, while some container has not been found serving metrics yet).
func (k *Kube) Run(ctx context.Context, report func([]Endpoint)) {
	go k.informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), k.informer.HasSynced) {
		return
	}
	k.mu.Lock()
	if k.watchErr != "" {
		k.opts.Logger.Info("Kubernetes discovery is watching this node's pods", zap.String("k8s.node.name", k.opts.Node))
		k.watchErr = ""
	}
	k.mu.Unlock()
	ticker := time.NewTicker(k.opts.Interval)
	defer ticker.Stop()
	for {
		report(k.Reconcile(ctx, time.Now()))
		select {
		case <-ctx.Done():
			return
		case <-k.changed:
		case <-ticker.C:
		}
	}
}

// Reconcile reads the pods watched and returns the endpoints found.
func (k *Kube) Reconcile(ctx context.Context, now time.Time) []Endpoint {
	for _, c := range k.containers {
		c.seen = false
	}
	var out []Endpoint
	var jobs []*probeJob
	type pending struct {
		pod       *corev1.Pod
		container string
		t         *tracked
	}
	var probed []pending
	for _, obj := range k.informer.GetStore().List() {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
			continue
		}
		switch pod.Annotations[annotationScrape] {
		case "false":
			continue
		case "true":
			if k.opts.Annotations {
				if e, ok := k.annotated(pod); ok {
					out = append(out, e)
				}
				continue
			}
		}
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			rule := k.match(c)
			if rule == nil || !running(pod, c.Name) {
				continue
			}
			key := string(pod.UID) + "/" + c.Name
			t := k.containers[key]
			if t == nil {
				t = &tracked{rule: rule}
				k.containers[key] = t
			}
			cands := containerCandidates(pod, c, rule)
			if t.update(now, cands) {
				name := c.Name
				jobs = append(jobs, &probeJob{t: t, cands: cands, log: func(why string) {
					k.opts.Logger.Info(fmt.Sprintf("Container %s of pod %s/%s looks like a model server (%s) but is not scraped: %s", name, pod.Namespace, pod.Name, rule.Name, why),
						zap.String("rule", rule.Name), zap.String("k8s.pod.uid", string(pod.UID)))
				}})
				probed = append(probed, pending{pod: pod, container: c.Name, t: t})
			} else if t.found != nil {
				out = append(out, k.endpoint(pod, c.Name, rule.Name, rule.Flavor, t.url, t.found.port))
			}
		}
	}
	for key, c := range k.containers {
		if !c.seen {
			delete(k.containers, key)
		}
	}
	k.opts.Prober.probeAll(ctx, now, k.opts.Interval, jobs)
	for _, p := range probed {
		if p.t.found != nil {
			out = append(out, k.endpoint(p.pod, p.container, p.t.rule.Name, p.t.rule.Flavor, p.t.url, p.t.found.port))
		}
	}
	sortEndpoints(out)
	return out
}

// match is the first rule that recognizes a container, by its image or its command and arguments.
func (k *Kube) match(c *corev1.Container) *Rule {
	for i := range k.opts.Rules {
		if k.opts.Rules[i].MatchImage(c.Image) {
			return &k.opts.Rules[i]
		}
	}
	for _, argv := range containerArgvs(c) {
		p := parse("", argv)
		for i := range k.opts.Rules {
			if k.opts.Rules[i].matchProgram(p) {
				return &k.opts.Rules[i]
			}
		}
	}
	return nil
}

// containerArgvs are the command lines a container may run: its command and args, and for a shell
// (`sh -c "… vllm serve M --port 8000"`) each command of the script.
func containerArgvs(c *corev1.Container) [][]string {
	argv := slices.Concat(c.Command, c.Args)
	if len(argv) == 0 {
		return nil
	}
	out := [][]string{argv}
	switch shellBase(argv[0]) {
	case "sh", "bash", "dash", "ash", "zsh":
		for i, a := range argv {
			if a == "-c" && i+1 < len(argv) {
				script := strings.Join(argv[i+1:], " ")
				for _, part := range strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '&' || r == '|' || r == '\n' }) {
					words := strings.Fields(part)
					for len(words) > 0 && (words[0] == "exec" || strings.Contains(words[0], "=")) {
						words = words[1:] // `exec vllm …`, `VAR=x vllm …`
					}
					if len(words) > 0 {
						out = append(out, words)
					}
				}
				break
			}
		}
	}
	return out
}

func shellBase(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// running reports whether a pod's container is running.
func running(pod *corev1.Pod, name string) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == name {
			return s.State.Running != nil
		}
	}
	return false
}

// containerCandidates are the ports of a container to probe: those its rule reads from its
// command, arguments and environment (or the rule's defaults), then its declared ports ("metrics"
// first).
func containerCandidates(pod *corev1.Pod, c *corev1.Container, rule *Rule) []candidate {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	var ports []int
	for _, argv := range containerArgvs(c) {
		if rule.matchProgram(parse("", argv)) {
			ports = rule.ports(Command{Argv: argv, Env: env})
			break
		}
	}
	if ports == nil {
		// Recognized by its image: its args follow the image's entrypoint (vllm/vllm-openai's is
		// ["vllm", "serve"]), so every word of them may be a flag.
		ports = rule.ports(Command{Argv: slices.Concat([]string{"entrypoint"}, c.Command, c.Args), Env: env})
	}
	declared := slices.Clone(c.Ports)
	slices.SortStableFunc(declared, func(a, b corev1.ContainerPort) int {
		am, bm := strings.Contains(a.Name, "metrics"), strings.Contains(b.Name, "metrics")
		switch {
		case am && !bm:
			return -1
		case bm && !am:
			return 1
		}
		return 0
	})
	for _, p := range declared {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			ports = appendPort(ports, int(p.ContainerPort))
		}
	}
	if len(ports) > maxCandidates {
		ports = ports[:maxCandidates]
	}
	out := make([]candidate, len(ports))
	for i, p := range ports {
		out[i] = candidate{host: pod.Status.PodIP, port: p}
	}
	return out
}

// annotated is the endpoint of a pod annotated prometheus.io/scrape: "true": its port annotation,
// else its one declared TCP port; its path annotation, else /metrics.
func (k *Kube) annotated(pod *corev1.Pod) (Endpoint, bool) {
	port := parsePort(pod.Annotations[annotationPort])
	container := ""
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			switch {
			case port != 0 && int(p.ContainerPort) == port:
				container = c.Name
			case pod.Annotations[annotationPort] == "" && port == 0:
				port, container = int(p.ContainerPort), c.Name
			}
		}
	}
	if port == 0 {
		k.sayPod(pod, "a pod annotated prometheus.io/scrape has no prometheus.io/port and no declared port: annotate its metrics port")
		return Endpoint{}, false
	}
	scheme := pod.Annotations[annotationScheme]
	if scheme != "https" {
		scheme = "http"
	}
	path := pod.Annotations[annotationPath]
	if path == "" {
		path = "/metrics"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := url.URL{Scheme: scheme, Host: joinHostPort(pod.Status.PodIP, port), Path: path}
	return k.endpoint(pod, container, RuleAnnotations, "", u.String(), port), true
}

// sayPod logs once per pod why it is not scraped.
func (k *Kube) sayPod(pod *corev1.Pod, why string) {
	key := string(pod.UID) + "/"
	t := k.containers[key]
	if t == nil {
		t = &tracked{}
		k.containers[key] = t
	}
	t.seen = true
	t.say(why, func(why string) {
		k.opts.Logger.Info("Pod "+pod.Namespace+"/"+pod.Name+" is not scraped: "+why, zap.String("k8s.pod.uid", string(pod.UID)))
	})
}

// endpoint is a discovered pod container's endpoint with the pod's attributes.
func (k *Kube) endpoint(pod *corev1.Pod, container, rule, flavor, rawURL string, port int) Endpoint {
	res := map[string]string{
		"k8s.namespace.name": pod.Namespace,
		"k8s.pod.name":       pod.Name,
		"k8s.pod.uid":        string(pod.UID),
		"k8s.node.name":      k.opts.Node,
	}
	if container != "" {
		res["k8s.container.name"] = container
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == container && s.ContainerID != "" {
				// containerd://0123…: the ID the GPU join reads from the process's cgroup.
				if _, id, ok := strings.Cut(s.ContainerID, "://"); ok {
					res["container.id"] = id
				}
			}
		}
	}
	return Endpoint{
		URL:      rawURL,
		Name:     pod.Namespace + "/" + pod.Name + ":" + strconv.Itoa(port),
		Flavor:   flavor,
		Source:   SourceKubernetes,
		Rule:     rule,
		Resource: res,
		PodUID:   string(pod.UID),
	}
}

// NodeFromEnv is this node's name from the environment the chart sets (K8S_NODE_NAME), else the
// host name.
func NodeFromEnv() string {
	if n := os.Getenv("K8S_NODE_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}
