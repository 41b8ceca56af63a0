package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/otelcol-inference"

// rendered is what `helm template` made, each object strictly decoded into its Kubernetes type.
type rendered struct {
	text        string
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	daemonSets  []*appsv1.DaemonSet
	deployments []*appsv1.Deployment
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	netpols     []*networkingv1.NetworkPolicy
	accounts    []*corev1.ServiceAccount
	roles       []*rbacv1.ClusterRole
	bindings    []*rbacv1.ClusterRoleBinding
	kinds       []string
}

func helmTemplate(t *testing.T, release string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmProgram.path(t), append([]string{"template", release, chartDir, "--namespace", "observability"}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out.String(), nil
}

// render runs helm template and decodes every object strictly: a field the Kubernetes type does not
// have (a typo, a wrong indentation) fails, as the API server would refuse it.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	text, err := helmTemplate(t, "otelcol-inference", args...)
	require.NoError(t, err)
	r := rendered{text: text, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}}
	for _, doc := range strings.Split(text, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
		r.kinds = append(r.kinds, meta.Kind)
		what := meta.APIVersion + " " + meta.Kind
		switch what {
		case "v1 ConfigMap":
			o := decodeStrict[corev1.ConfigMap](t, doc, what)
			r.configMaps[o.Name] = o
		case "v1 Secret":
			o := decodeStrict[corev1.Secret](t, doc, what)
			r.secrets[o.Name] = o
		case "v1 Service":
			o := decodeStrict[corev1.Service](t, doc, what)
			r.services[o.Name] = o
		case "apps/v1 DaemonSet":
			r.daemonSets = append(r.daemonSets, decodeStrict[appsv1.DaemonSet](t, doc, what))
		case "apps/v1 Deployment":
			r.deployments = append(r.deployments, decodeStrict[appsv1.Deployment](t, doc, what))
		case "policy/v1 PodDisruptionBudget":
			r.pdbs = append(r.pdbs, decodeStrict[policyv1.PodDisruptionBudget](t, doc, what))
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpas = append(r.hpas, decodeStrict[autoscalingv2.HorizontalPodAutoscaler](t, doc, what))
		case "networking.k8s.io/v1 NetworkPolicy":
			r.netpols = append(r.netpols, decodeStrict[networkingv1.NetworkPolicy](t, doc, what))
		case "v1 ServiceAccount":
			r.accounts = append(r.accounts, decodeStrict[corev1.ServiceAccount](t, doc, what))
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			r.roles = append(r.roles, decodeStrict[rbacv1.ClusterRole](t, doc, what))
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
			r.bindings = append(r.bindings, decodeStrict[rbacv1.ClusterRoleBinding](t, doc, what))
		default:
			t.Fatalf("the chart renders %s %s, which this test does not know", meta.APIVersion, meta.Kind)
		}
	}
	slices.Sort(r.kinds)
	return r
}

// decodeStrict decodes one rendered object into its Kubernetes type; a field the type does not have
// fails the test.
func decodeStrict[T any](t *testing.T, doc, what string) *T {
	t.Helper()
	o := new(T)
	require.NoError(t, yaml.UnmarshalStrict([]byte(doc), o), "%s:\n%s", what, doc)
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func podLabelsMatch(t *testing.T, selector, podLabels map[string]string, what string) {
	t.Helper()
	require.NotEmpty(t, selector, what)
	for k, v := range selector {
		assert.Equal(t, v, podLabels[k], "%s: selector %s=%s does not match the pods", what, k, v)
	}
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// TestHelmChartDefaults renders the chart as `helm install` would with its defaults: every object
// decodes strictly, the pieces point at each other (config maps, selectors, the agents' DNS resolver
// and the headless Service), the agent has what attribution and NVML need, and both embedded
// collector configurations pass the distribution's own `validate`.
func TestHelmChartDefaults(t *testing.T) {
	collector, _ := binaries(t)
	r := render(t)
	assert.Equal(t, []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "DaemonSet", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Secret", "Service", "Service", "ServiceAccount"}, r.kinds)

	require.Len(t, r.daemonSets, 1)
	ds := r.daemonSets[0]
	pod := ds.Spec.Template.Spec
	podLabelsMatch(t, ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels, "agent DaemonSet")
	assert.True(t, pod.HostPID, "the agent reads GPU processes' /proc entries")
	require.Len(t, pod.Containers, 1)
	agent := pod.Containers[0]
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range agent.VolumeMounts {
		mounts[m.Name] = m
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	require.Contains(t, mounts, "pod-resources")
	assert.True(t, mounts["pod-resources"].ReadOnly)
	assert.Equal(t, "/var/lib/kubelet/pod-resources", mounts["pod-resources"].MountPath)
	require.NotNil(t, vols["pod-resources"].HostPath)
	assert.Equal(t, "/var/lib/kubelet/pod-resources", vols["pod-resources"].HostPath.Path)
	require.NotNil(t, vols["queue"].HostPath, "the agent's queue outlives the pod on the node")
	nv, ok := envVar(agent, "NVIDIA_VISIBLE_DEVICES")
	require.True(t, ok)
	assert.Equal(t, "all", nv.Value)
	_, ok = envVar(agent, "GOMEMLIMIT")
	assert.True(t, ok)
	assert.NotNil(t, agent.Resources.Limits.Memory(), "agent memory limit")
	require.NotNil(t, agent.LivenessProbe)
	require.NotNil(t, agent.ReadinessProbe)
	assert.Equal(t, "health", agent.LivenessProbe.HTTPGet.Port.String())
	assert.Contains(t, agent.SecurityContext.Capabilities.Drop, corev1.Capability("ALL"))
	assert.NotContains(t, agent.Resources.Limits, corev1.ResourceName("nvidia.com/gpu"), "the agent must not take a GPU from the servers")
	agentCM := r.configMaps[vols["config"].ConfigMap.Name]
	require.NotNil(t, agentCM, "the agent's config map %s is rendered", vols["config"].ConfigMap.Name)
	agentRBAC(t, r, pod)

	require.Len(t, r.deployments, 1)
	dep := r.deployments[0]
	gpod := dep.Spec.Template.Spec
	podLabelsMatch(t, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels, "gateway Deployment")
	require.NotNil(t, dep.Spec.Replicas)
	assert.EqualValues(t, 2, *dep.Spec.Replicas)
	require.NotNil(t, gpod.SecurityContext.RunAsNonRoot)
	assert.True(t, *gpod.SecurityContext.RunAsNonRoot)
	gatewayCM := r.configMaps[gpod.Volumes[0].ConfigMap.Name]
	require.NotNil(t, gatewayCM)
	assert.Empty(t, secretEnv(r), "no secret reaches a pod as an environment variable")
	assert.Equal(t, "2Gi", volumeNamed(gpod, "queue").EmptyDir.SizeLimit.String(), "the queue's emptyDir is bounded")
	securedByDefault(t, r, pod, gpod)

	headless := r.services["otelcol-inference-gateway-headless"]
	require.NotNil(t, headless)
	assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
	podLabelsMatch(t, headless.Spec.Selector, dep.Spec.Template.Labels, "headless Service")
	podLabelsMatch(t, r.services["otelcol-inference-gateway"].Spec.Selector, dep.Spec.Template.Labels, "gateway Service")
	require.Len(t, r.pdbs, 1)
	podLabelsMatch(t, r.pdbs[0].Spec.Selector.MatchLabels, dep.Spec.Template.Labels, "PodDisruptionBudget")

	// The agents resolve the gateways through the headless Service, and route by resource.
	agentCfg := agentCM.Data["config.yaml"]
	assert.Contains(t, agentCfg, "hostname: otelcol-inference-gateway-headless.observability.svc.cluster.local")
	assert.Contains(t, agentCfg, "routing_key: resource")
	assert.Contains(t, agentCfg, "pod_resources_socket: /var/lib/kubelet/pod-resources/kubelet.sock")
	// Each agent discovers its own node's pods, and puts their workload on the servers' resources.
	assert.Contains(t, agentCfg, "kubernetes:\n        enabled: true\n        node: ${env:K8S_NODE_NAME}")
	assert.Contains(t, agentCfg, "node_from_env_var: K8S_NODE_NAME")
	assert.Contains(t, agentCfg, "processors: [memory_limiter, k8s_attributes, resource]")
	nodeName, ok := envVar(agent, "K8S_NODE_NAME")
	require.True(t, ok)
	assert.Equal(t, "spec.nodeName", nodeName.ValueFrom.FieldRef.FieldPath)

	for name, cm := range map[string]*corev1.ConfigMap{"agent": agentCM, "gateway": gatewayCM} {
		out, err := validate(t, collector, cm.Data["config.yaml"])
		require.NoError(t, err, "%s config does not validate:\n%s\n%s", name, out, cm.Data["config.yaml"])
	}
	// validate is a real check: a broken routing key fails it.
	out, err := validate(t, collector, strings.Replace(agentCfg, "routing_key: resource", "routing_key: nonsense", 1))
	require.Error(t, err, "validate accepted a bad routing key")
	assert.Contains(t, out, "routing_key")

	// The rendered manifests for users without helm are this render, with the two Secrets the chart
	// makes itself (a random token, a certificate) left to the user (none is committed).
	manifests := render(t, "--set", "gateway.auth.existingSecret=otelcol-inference-ingest-token", "--set", "gateway.tls.existingSecret=otelcol-inference-gateway-tls")
	assert.Empty(t, manifests.secrets)
	shipped, err := os.ReadFile("../../deploy/kubernetes/otelcol-inference.yaml")
	require.NoError(t, err)
	assert.Equal(t, manifests.text, stripHeader(string(shipped)), "deploy/kubernetes/otelcol-inference.yaml is stale: run `make manifests`")
}

// securedByDefault checks what a default install secures: every OTLP protocol of the gateways asks
// for the agents' token over TLS; the agents verify the gateways' certificate (for the headless
// Service's name, from the CA the chart made) and send the token; the token and the keys are files
// from Secrets; the certificate is valid for the name the agents check; only the agents may send.
func securedByDefault(t *testing.T, r rendered, agentPod, gatewayPod corev1.PodSpec) {
	t.Helper()
	var gw struct {
		Extensions map[string]map[string]any `json:"extensions"`
		Receivers  struct {
			OTLP struct {
				Protocols map[string]struct {
					TLS  map[string]string `json:"tls"`
					Auth map[string]string `json:"auth"`
				} `json:"protocols"`
			} `json:"otlp"`
		} `json:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(r.configMaps[gatewayPod.Volumes[0].ConfigMap.Name].Data["config.yaml"]), &gw))
	require.Len(t, gw.Receivers.OTLP.Protocols, 2)
	for name, p := range gw.Receivers.OTLP.Protocols {
		assert.Equal(t, "bearertokenauth/agents", p.Auth["authenticator"], "OTLP %s authenticates", name)
		assert.Equal(t, "/etc/otelcol-inference/tls/tls.crt", p.TLS["cert_file"], "OTLP %s serves TLS", name)
	}
	assert.Equal(t, "/etc/otelcol-inference/ingest/token", gw.Extensions["bearertokenauth/agents"]["filename"])

	var agent struct {
		Exporters struct {
			LB struct {
				Protocol struct {
					OTLP struct {
						TLS  map[string]any    `json:"tls"`
						Auth map[string]string `json:"auth"`
					} `json:"otlp"`
				} `json:"protocol"`
			} `json:"load_balancing"`
		} `json:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(r.configMaps[volumeNamed(agentPod, "config").ConfigMap.Name].Data["config.yaml"]), &agent))
	otlp := agent.Exporters.LB.Protocol.OTLP
	assert.Equal(t, "bearertokenauth/gateway", otlp.Auth["authenticator"])
	assert.NotContains(t, otlp.TLS, "insecure")
	assert.Equal(t, "/etc/otelcol-inference/gateway-ca/ca.crt", otlp.TLS["ca_file"])
	serverName, _ := otlp.TLS["server_name_override"].(string)
	assert.Equal(t, "otelcol-inference-gateway-headless.observability.svc", serverName)

	// The Secrets the chart made: a token, and a certificate for that name signed by the CA.
	token := r.secrets["otelcol-inference-ingest-token"]
	require.NotNil(t, token)
	assert.GreaterOrEqual(t, len(token.Data["token"]), 32)
	tlsSecret := r.secrets["otelcol-inference-gateway-tls"]
	require.NotNil(t, tlsSecret)
	assert.Equal(t, corev1.SecretTypeTLS, tlsSecret.Type)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(tlsSecret.Data["ca.crt"]))
	block, _ := pem.Decode(tlsSecret.Data["tls.crt"])
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{DNSName: serverName, Roots: pool})
	require.NoError(t, err, "the certificate is valid for the name the agents check")
	_, err = tls.X509KeyPair(tlsSecret.Data["tls.crt"], tlsSecret.Data["tls.key"])
	require.NoError(t, err)
	for _, pod := range []corev1.PodSpec{agentPod, gatewayPod} {
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				assert.Contains(t, []string{"otelcol-inference-ingest-token", "otelcol-inference-gateway-tls"}, v.Secret.SecretName)
			}
		}
	}
	require.Len(t, r.netpols, 1, "the NetworkPolicy is on by default")

	// Least privilege on the node: seccomp, and hostPID and SYS_PTRACE only for the process join.
	require.NotNil(t, agentPod.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, agentPod.SecurityContext.SeccompProfile.Type)
	assert.True(t, agentPod.HostPID)
	assert.Contains(t, agentPod.Containers[0].SecurityContext.Capabilities.Add, corev1.Capability("SYS_PTRACE"))
	off := render(t, "--set", "agent.gpu.processes=false").daemonSets[0].Spec.Template.Spec
	assert.False(t, off.HostPID, "no process join, no host PID namespace")
	assert.Empty(t, off.Containers[0].SecurityContext.Capabilities.Add, "no process join, no capability")
}

// secretEnv lists the environment variables of any container that come from a Secret.
func secretEnv(r rendered) []string {
	var out []string
	var pods []corev1.PodSpec
	for _, d := range r.daemonSets {
		pods = append(pods, d.Spec.Template.Spec)
	}
	for _, d := range r.deployments {
		pods = append(pods, d.Spec.Template.Spec)
	}
	for _, p := range pods {
		for _, c := range p.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					out = append(out, c.Name+"/"+e.Name)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil {
					out = append(out, c.Name+"/envFrom")
				}
			}
		}
	}
	return out
}

func volumeNamed(pod corev1.PodSpec, name string) corev1.Volume {
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	return corev1.Volume{}
}

// agentRBAC checks the agents' access: a service account of their own, bound to a role that may
// get, list and watch pods and nothing else, its token mounted.
func agentRBAC(t *testing.T, r rendered, pod corev1.PodSpec) {
	t.Helper()
	require.Len(t, r.accounts, 1)
	require.Len(t, r.roles, 1)
	require.Len(t, r.bindings, 1)
	assert.Equal(t, r.accounts[0].Name, pod.ServiceAccountName)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.True(t, *pod.AutomountServiceAccountToken)
	assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}, r.roles[0].Rules,
		"least privilege: the pods of the nodes, read only")
	b := r.bindings[0]
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: r.roles[0].Name}, b.RoleRef)
	require.Len(t, b.Subjects, 1)
	assert.Equal(t, rbacv1.Subject{Kind: "ServiceAccount", Name: r.accounts[0].Name, Namespace: "observability"}, b.Subjects[0])
}

func stripHeader(s string) string {
	for strings.HasPrefix(s, "# ") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

// TestHelmChartEverythingOn: autoscaling, a NetworkPolicy, a bearer token (a Secret the chart makes
// or one that exists), an ephemeral queue volume, the NVIDIA runtime class, no pod attribution.
func TestHelmChartEverythingOn(t *testing.T) {
	collector, _ := binaries(t)
	r := render(t,
		"--set", "gateway.autoscaling.enabled=true",
		"--set", "gateway.remoteWrite.bearerToken=s3cret",
		"--set", "gateway.queue.ephemeralVolume.enabled=true",
		"--set", "agent.gpu.runtimeClassName=nvidia",
		"--set", "agent.gpu.podResources=false")
	assert.Equal(t, []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "DaemonSet", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Secret", "Secret", "Service", "Service", "ServiceAccount"}, r.kinds)
	dep := r.deployments[0]
	assert.Nil(t, dep.Spec.Replicas, "the autoscaler owns the replica count")
	assert.Equal(t, dep.Name, r.hpas[0].Spec.ScaleTargetRef.Name)
	assert.EqualValues(t, 6, r.hpas[0].Spec.MaxReplicas)
	rw := volumeNamed(dep.Spec.Template.Spec, "remote-write-token").Secret
	require.NotNil(t, rw, "the remote-write token is a mounted file")
	secret := r.secrets[rw.SecretName]
	require.NotNil(t, secret, "the token's Secret %s is rendered", rw.SecretName)
	assert.Equal(t, "s3cret", secret.StringData["token"])
	assert.Empty(t, secretEnv(r))
	require.NotNil(t, volumeNamed(dep.Spec.Template.Spec, "queue").Ephemeral)
	ds := r.daemonSets[0].Spec.Template.Spec
	require.NotNil(t, ds.RuntimeClassName)
	assert.Equal(t, "nvidia", *ds.RuntimeClassName)
	for _, v := range ds.Volumes {
		assert.NotEqual(t, "pod-resources", v.Name)
	}
	podLabelsMatch(t, r.netpols[0].Spec.PodSelector.MatchLabels, dep.Spec.Template.Labels, "NetworkPolicy")
	podLabelsMatch(t, r.netpols[0].Spec.Ingress[0].From[0].PodSelector.MatchLabels, r.daemonSets[0].Spec.Template.Labels, "NetworkPolicy's agents")
	gatewayCfg := r.configMaps[dep.Spec.Template.Spec.Volumes[0].ConfigMap.Name].Data["config.yaml"]
	assert.Contains(t, gatewayCfg, "authenticator: bearertokenauth/remote_write")
	agentCfg := r.configMaps[ds.Volumes[0].ConfigMap.Name].Data["config.yaml"]
	assert.Contains(t, agentCfg, `pod_resources_socket: ""`)
	for _, cfg := range []string{gatewayCfg, agentCfg} {
		out, err := validate(t, collector, cfg)
		require.NoError(t, err, "%s\n%s", out, cfg)
	}

	// Discovery and pod metadata off, a server listed: no access to the API at all.
	r = render(t, "--set", "agent.discovery.kubernetes=false", "--set", "agent.podMetadata=false",
		"--set", "agent.servers[0].name=vllm", "--set", "agent.servers[0].endpoint=http://${env:K8S_NODE_IP}:8000/metrics")
	assert.Empty(t, r.roles)
	assert.Empty(t, r.accounts)
	ds = r.daemonSets[0].Spec.Template.Spec
	require.NotNil(t, ds.AutomountServiceAccountToken)
	assert.False(t, *ds.AutomountServiceAccountToken)
	agentCfg = r.configMaps[ds.Volumes[0].ConfigMap.Name].Data["config.yaml"]
	assert.NotContains(t, agentCfg, "discovery:")
	assert.NotContains(t, agentCfg, "k8s_attributes")
	out, err := validate(t, collector, agentCfg)
	require.NoError(t, err, "%s\n%s", out, agentCfg)

	// Existing Secrets: referenced, not made.
	r = render(t, "--set", "gateway.remoteWrite.existingSecret=rw-token", "--set", "gateway.remoteWrite.existingSecretKey=password",
		"--set", "gateway.auth.existingSecret=ingest", "--set", "gateway.tls.existingSecret=gw-cert")
	assert.Empty(t, r.secrets)
	rw = volumeNamed(r.deployments[0].Spec.Template.Spec, "remote-write-token").Secret
	require.NotNil(t, rw)
	assert.Equal(t, "rw-token", rw.SecretName)
	assert.Equal(t, "password", rw.Items[0].Key)
	assert.Equal(t, "gw-cert", volumeNamed(r.deployments[0].Spec.Template.Spec, "tls").Secret.SecretName)
	assert.Equal(t, "ingest", volumeNamed(r.daemonSets[0].Spec.Template.Spec, "ingest-token").Secret.SecretName)

	// TLS and the token off together (a trusted network): plain gRPC, no secret at all.
	r = render(t, "--set", "gateway.tls.enabled=false", "--set", "gateway.auth.enabled=false")
	assert.Empty(t, r.secrets)
	agentOff := r.configMaps[volumeNamed(r.daemonSets[0].Spec.Template.Spec, "config").ConfigMap.Name].Data["config.yaml"]
	assert.Contains(t, agentOff, "insecure: true")
	out, err = validate(t, collector, agentOff)
	require.NoError(t, err, "%s\n%s", out, agentOff)
}

// TestHelmChartRefusesBadValues: the values schema names the mistake before anything is installed.
func TestHelmChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"gateway.replica=3", "replica"},                             // a typo of replicas
		{"agent.servers[0].flavor=vlm", "flavor"},                    // not a flavor
		{"agent.discovery.kubernets=true", "kubernets"},              // a typo
		{"gateway.remoteWrite.endpoint=prometheus:9090", "endpoint"}, // no scheme
		{"agent.collectionInterval=10", "collectionInterval"},        // no unit
		{"gateway.autoscaling.enabled=true,gateway.autoscaling.minReplicas=9", "minReplicas"},
		{"gateway.enabled=false", "gateway.enabled"},                // agents with nowhere to send
		{"gateway.tls.enabled=false", "gateway.auth.enabled=false"}, // a token in the clear
		{"gateway.queue.sizeLimit=lots", "sizeLimit"},
	} {
		_, err := helmTemplate(t, "otelcol-inference", "--set", tc.set)
		require.Error(t, err, tc.set)
		assert.Contains(t, err.Error(), tc.want, tc.set)
	}
}

// TestHelmChartSecuredTransport runs what the chart renders by default, not just reads it: the
// gateway's configuration with the certificate and token the chart generated, and the agent's
// exporter with the CA and token, on loopback (the pods' paths and ports moved into a temporary
// folder). The agent's data reaches Prometheus through TLS with the token; an OTLP/HTTP request
// without the token, or with another, is refused (401) and stores nothing; plain HTTP gets no answer
// from the TLS listener.
func TestHelmChartSecuredTransport(t *testing.T) {
	collector, prometheusBin := binaries(t)
	prom := startPrometheus(t, prometheusBin)
	r := render(t, "--set", "gateway.remoteWrite.endpoint="+prom+"/api/v1/write")
	dir := t.TempDir()
	for _, s := range r.secrets {
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if v, ok := s.Data[k]; ok {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "tls"), 0o700))
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "gateway-ca"), 0o700))
				target := filepath.Join(dir, "tls", k)
				if k == "ca.crt" {
					target = filepath.Join(dir, "gateway-ca", k)
				}
				require.NoError(t, os.WriteFile(target, v, 0o600))
			}
		}
		if v, ok := s.Data["token"]; ok {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "ingest"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "ingest", "token"), v, 0o600))
		}
	}
	grpcPort, httpPort := freePort(t), freePort(t)
	relocate := func(cfg string) string {
		return strings.NewReplacer(
			"/etc/otelcol-inference/", dir+"/",
			"/var/lib/otelcol-inference/", dir+"/var/",
			"${env:MY_POD_IP}:4317", fmt.Sprintf("127.0.0.1:%d", grpcPort),
			"${env:MY_POD_IP}:4318", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"${env:MY_POD_IP}:13133", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"host: 0.0.0.0  # kubectl port-forward reaches 127.0.0.1 only", "host: 127.0.0.1",
			"port: 8888", fmt.Sprintf("port: %d", freePort(t)),
			"hostname: otelcol-inference-gateway-headless.observability.svc.cluster.local", "hostname: localhost",
			`port: "4317"`, fmt.Sprintf(`port: "%d"`, grpcPort),
		).Replace(cfg)
	}
	gatewayCfg := relocate(r.configMaps["otelcol-inference-gateway"].Data["config.yaml"])
	agentCfg := relocate(r.configMaps["otelcol-inference-agent"].Data["config.yaml"])
	srv, _ := replayedSequence(t)
	overlay := filepath.Join(dir, "agent-overlay.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte(fmt.Sprintf(`receivers:
  inference:
    collection_interval: 1s
    gpu: {enabled: false}
    discovery: {kubernetes: {enabled: false}}
    servers: [{name: vllm, endpoint: %q, flavor: vllm}]
service:
  pipelines:
    metrics:
      processors: [memory_limiter, resource]
`, srv.URL+"/metrics")), 0o600))
	env := []string{"K8S_NODE_NAME=gpu-node-1", "MY_POD_IP=127.0.0.1"}
	gwPath, agentPath := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(gwPath, []byte(gatewayCfg), 0o600))
	require.NoError(t, os.WriteFile(agentPath, []byte(agentCfg), 0o600))
	gateway := startProcessEnv(t, "gateway (chart)", env, collector, "--config="+gwPath)
	agent := startProcessEnv(t, "agent (chart)", env, collector, "--config="+agentPath, "--config="+overlay)
	waitFor(t, 60*time.Second, "the agent's series in Prometheus through TLS and the token", func() bool {
		gateway.requireRunning(t)
		agent.requireRunning(t)
		return len(instantQuery(t, prom, `inference_server_up{inference_server_name="vllm"}`)) == 1
	})

	// Without the token, or with another, OTLP/HTTP is refused; plain HTTP is not served.
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(dir, "gateway-ca", "ca.crt"))
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: "otelcol-inference-gateway-headless.observability.svc", MinVersion: tls.VersionTLS12,
	}}}
	post := func(scheme, token string) (int, error) {
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s://127.0.0.1:%d/v1/metrics", scheme, httpPort),
			strings.NewReader(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"intruder"}}]},"scopeMetrics":[{"metrics":[{"name":"intruder_metric","gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"1"}]}}]}]}]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	code, err := post("https", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "no token")
	code, err = post("https", "guessed-token")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "a wrong token")
	code, err = post("http", "")
	if err == nil {
		assert.NotEqual(t, http.StatusOK, code, "plain HTTP")
	}
	time.Sleep(2 * time.Second)
	assert.Empty(t, instantQuery(t, prom, `intruder_metric`), "nothing unauthenticated stored")
}
