package kubepod // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"

import "time"

// forgetAfter is how long a learned pod is kept after its last process was seen.
const forgetAfter = time.Hour

// Names names the pods of GPU processes. The pod-resources API names pods but not their UIDs, and a
// process's cgroup gives its pod UID but not its name; the two meet on a GPU held by one container:
// when every pod process on such a GPU has one pod UID, that UID is that pod, and that container ID
// that container. What was learned then names the pod's processes on shared GPUs too.
type Names struct {
	pods       map[string]learned // pod UID → namespace and pod
	containers map[string]learned // container ID → container name
}

type learned struct {
	owner Owner
	seen  time.Time
}

// NewNames returns an empty set.
func NewNames() *Names {
	return &Names{pods: map[string]learned{}, containers: map[string]learned{}}
}

// Learn takes the one owner of a GPU and the pod references of the processes on it.
func (n *Names) Learn(owner Owner, refs []Ref, now time.Time) {
	var uid, cid string
	for i, r := range refs {
		if i == 0 {
			uid, cid = r.PodUID, r.ContainerID
			continue
		}
		if r.PodUID != uid {
			return // processes of two pods on one pod's GPU: which is the owner is unknown
		}
		if r.ContainerID != cid {
			cid = ""
		}
	}
	if uid == "" {
		return
	}
	n.pods[uid] = learned{owner: Owner{Namespace: owner.Namespace, Pod: owner.Pod}, seen: now}
	if cid != "" {
		n.containers[cid] = learned{owner: owner, seen: now}
	}
}

// Of names the pod (and, when known, the container) of a process's reference.
func (n *Names) Of(r Ref, now time.Time) (Owner, bool) {
	p, ok := n.pods[r.PodUID]
	if !ok {
		return Owner{}, false
	}
	p.seen = now
	n.pods[r.PodUID] = p
	o := p.owner
	if c, ok := n.containers[r.ContainerID]; ok && r.ContainerID != "" {
		c.seen = now
		n.containers[r.ContainerID] = c
		o.Container = c.owner.Container
	}
	return o, true
}

// Sweep forgets pods and containers not seen for an hour.
func (n *Names) Sweep(now time.Time) {
	for k, v := range n.pods {
		if now.Sub(v.seen) > forgetAfter {
			delete(n.pods, k)
		}
	}
	for k, v := range n.containers {
		if now.Sub(v.seen) > forgetAfter {
			delete(n.containers, k)
		}
	}
}

// Pod is what is known of a process's pod: its reference from the cgroup and, when learned, its
// names.
type Pod struct {
	Ref
	Owner
	Named bool
}

// Attributes are the semantic-convention attributes of what is known, as key/value pairs.
func (p Pod) Attributes() []string {
	var kv []string
	if p.Named {
		kv = append(kv, "k8s.namespace.name", p.Namespace, "k8s.pod.name", p.Pod)
		if p.Container != "" {
			kv = append(kv, "k8s.container.name", p.Container)
		}
	}
	if p.PodUID != "" {
		kv = append(kv, "k8s.pod.uid", p.PodUID)
	}
	if p.ContainerID != "" {
		kv = append(kv, "container.id", p.ContainerID)
	}
	return kv
}
