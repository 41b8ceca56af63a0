//go:build inference_nokube

package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import "errors"

// NewKube in a build without the Kubernetes client (the lean agent build, tag inference_nokube).
func NewKube(KubeOptions) (Source, error) {
	return nil, errors.New("discovery.kubernetes: this build has no Kubernetes client (the lean agent build, for hosts): run otelcol-inference, whose image the Helm chart uses")
}
