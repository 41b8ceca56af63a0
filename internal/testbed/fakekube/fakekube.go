// Package fakekube is a Kubernetes API endpoint for tests: it serves the pods list and watch that
// client-go informers use (field selector spec.nodeName, resource versions, the watch-list stream
// with its initial-events bookmark), on a loopback port, from pods the test adds, changes and
// deletes.
package fakekube // import "github.com/otel-inference/collector/internal/testbed/fakekube"

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Server is the fake API endpoint.
type Server struct {
	srv *httptest.Server

	mu      sync.Mutex
	changed *sync.Cond
	rv      int
	pods    map[string]*corev1.Pod // namespace/name → pod
	events  []event
	closed  bool
	forbid  bool
	// Requests are the query strings of the pods requests served, in order.
	requests []string
}

type event struct {
	rv   int
	kind string
	pod  corev1.Pod
}

// Start serves on a loopback port until the test ends.
func Start() *Server {
	s := &Server{pods: map[string]*corev1.Pod{}}
	s.changed = sync.NewCond(&s.mu)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the API server's address.
func (s *Server) URL() string { return s.srv.URL }

// Close stops it (open watches end).
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.changed.Broadcast()
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// WriteKubeconfig writes a kubeconfig for the server in dir and returns its path.
func (s *Server) WriteKubeconfig(dir string) (string, error) {
	path := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
current-context: fake
users:
- name: fake
  user:
    token: test-token
`, s.URL())
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// Forbid makes the pods requests fail as a service account without RBAC for them does (403).
func (s *Server) Forbid(forbid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbid = forbid
}

// Requests are the query strings of the pods requests served so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Apply adds or changes a pod.
func (s *Server) Apply(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pod.Namespace + "/" + pod.Name
	kind := "MODIFIED"
	if _, ok := s.pods[key]; !ok {
		kind = "ADDED"
	}
	s.rv++
	p := pod.DeepCopy()
	p.ResourceVersion = strconv.Itoa(s.rv)
	s.pods[key] = p
	s.events = append(s.events, event{rv: s.rv, kind: kind, pod: *p.DeepCopy()})
	s.changed.Broadcast()
}

// Delete removes a pod.
func (s *Server) Delete(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := namespace + "/" + name
	p, ok := s.pods[key]
	if !ok {
		return
	}
	delete(s.pods, key)
	s.rv++
	d := p.DeepCopy()
	d.ResourceVersion = strconv.Itoa(s.rv)
	s.events = append(s.events, event{rv: s.rv, kind: "DELETED", pod: *d})
	s.changed.Broadcast()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/pods" {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.RawQuery)
	forbid := s.forbid
	s.mu.Unlock()
	if forbid {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:observability:otelcol-inference-agent\" cannot list resource \"pods\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"pods"},"code":403}`))
		return
	}
	node := ""
	if sel := q.Get("fieldSelector"); sel != "" {
		k, v, ok := strings.Cut(sel, "=")
		if !ok || k != "spec.nodeName" {
			http.Error(w, "unsupported field selector", http.StatusBadRequest)
			return
		}
		node = v
	}
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		s.watch(w, r, node, q.Get("resourceVersion"), q.Get("sendInitialEvents") == "true")
		return
	}
	s.mu.Lock()
	list := corev1.PodList{}
	list.Kind, list.APIVersion = "PodList", "v1"
	list.ResourceVersion = strconv.Itoa(s.rv)
	for _, p := range s.pods {
		if node == "" || p.Spec.NodeName == node {
			list.Items = append(list.Items, *p.DeepCopy())
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&list)
}

// watch streams the events after resourceVersion (with sendInitialEvents: every pod as ADDED, then
// the bookmark that ends them) until the client goes, the server closes, or 5 minutes pass.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, node, rv string, initial bool) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(kind string, obj any) bool {
		if err := enc.Encode(map[string]any{"type": kind, "object": obj}); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	s.mu.Lock()
	from, _ := strconv.Atoi(rv)
	if initial {
		for _, p := range s.pods {
			if node == "" || p.Spec.NodeName == node {
				pod := p.DeepCopy()
				pod.Kind, pod.APIVersion = "Pod", "v1"
				if !send("ADDED", pod) {
					s.mu.Unlock()
					return
				}
			}
		}
		from = s.rv
		bookmark := corev1.Pod{}
		bookmark.Kind, bookmark.APIVersion = "Pod", "v1"
		bookmark.ResourceVersion = strconv.Itoa(s.rv)
		bookmark.Annotations = map[string]string{"k8s.io/initial-events-end": "true"}
		if !send("BOOKMARK", &bookmark) {
			s.mu.Unlock()
			return
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Minute):
		case <-done:
			return
		}
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	}()
	for {
		for _, e := range s.events {
			if e.rv <= from || (node != "" && e.pod.Spec.NodeName != node) {
				continue
			}
			pod := e.pod.DeepCopy()
			pod.Kind, pod.APIVersion = "Pod", "v1"
			if !send(e.kind, pod) {
				s.mu.Unlock()
				return
			}
		}
		from = s.rv
		if s.closed || r.Context().Err() != nil {
			s.mu.Unlock()
			return
		}
		s.changed.Wait()
	}
}

// Pod is a running pod of node with one container, for tests.
func Pod(namespace, name, uid, node, ip string, c corev1.Container) *corev1.Pod {
	p := &corev1.Pod{}
	p.Namespace, p.Name, p.UID = namespace, name, types.UID(uid)
	p.Spec.NodeName = node
	p.Spec.Containers = []corev1.Container{c}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, ContainerID: "containerd://" + strings.Repeat(uid[:1], 64),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}
	return p
}
