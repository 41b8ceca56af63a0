package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/otel-inference/collector/internal/redact"
)

// What a 401 or 403 does (on_auth_failure).
const (
	authDrop = "drop"
	authHold = "hold"
)

// Config is the remote_write exporter's configuration.
type Config struct {
	// The HTTP client: endpoint (e.g. http://prometheus:9090/api/v1/write), headers, auth, TLS,
	// timeout (per request).
	confighttp.ClientConfig `mapstructure:",squash"`

	// QueueConfig is the sending queue: a strict FIFO read by one sender, so the samples of every
	// series reach the backend in order. With `storage: file_storage/…` it is on disk: what was
	// accepted survives a crash and is sent, in order, after the restart.
	QueueConfig QueueConfig `mapstructure:"sending_queue"`
	// BackOffConfig retries 5xx and 429 (honoring Retry-After); other 4xx are not retried.
	// max_elapsed_time 0 (the default) retries until the backend takes the data.
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Protocol is the remote-write protocol: v1 (1.0, the default) or v2 (2.0: interned symbols;
	// type, unit and help per series; falls back to 1.0 when the receiver does not take it).
	Protocol string `mapstructure:"protocol"`

	// MaxSamplesPerRequest splits what one push carries into requests of at most this many samples.
	MaxSamplesPerRequest int `mapstructure:"max_samples_per_request"`
	// BatchSendDeadline is how long the sender waits for more data before it sends what it has
	// (Prometheus's remote_write batch_send_deadline, 5s there): fewer, larger requests. 0, the
	// default, sends each push at once. A round of max_samples_per_request samples never waits.
	BatchSendDeadline time.Duration `mapstructure:"batch_send_deadline"`
	// MaxRetryAfter caps how long a backend's Retry-After makes the sender wait (0: no cap).
	MaxRetryAfter time.Duration `mapstructure:"max_retry_after"`
	// OnAuthFailure is what a 401 or 403 does: drop (the default, as the remote-write spec says: that
	// request is not retried; the samples are counted as dropped, reason unauthorized or forbidden,
	// and an error names the credential to fix) or hold (the request is retried, and the queue kept,
	// until the credential works: nothing is lost while a token is renewed).
	OnAuthFailure string `mapstructure:"on_auth_failure"`

	// Naming, as contrib's prometheus remote write exporter does it.
	Namespace           string                       `mapstructure:"namespace"`
	ExternalLabels      map[string]string            `mapstructure:"external_labels"`
	AddMetricSuffixes   bool                         `mapstructure:"add_metric_suffixes"`
	ResourceToTelemetry resourcetotelemetry.Settings `mapstructure:"resource_to_telemetry_conversion"`
	TargetInfo          TargetInfo                   `mapstructure:"target_info"`

	_ struct{}
}

// QueueConfig configures the sending queue.
type QueueConfig struct {
	// Storage names a storage extension (file_storage) that makes the queue persistent.
	Storage *component.ID `mapstructure:"storage"`
	// QueueSize is how many batches (one per push from the pipeline) the queue holds; beyond it new
	// data is refused (an error the pipeline sees).
	QueueSize int `mapstructure:"queue_size"`
	// Enabled and NumConsumers are accepted as other exporters spell them (exporterhelper's keys):
	// the queue is always on (enabled: true), and read by one consumer, which is what keeps samples
	// in order.
	Enabled      *bool `mapstructure:"enabled"`
	NumConsumers int   `mapstructure:"num_consumers"`

	_ struct{}
}

// TargetInfo says whether target_info series carry resource attributes.
type TargetInfo struct {
	Enabled bool `mapstructure:"enabled"`
	_       struct{}
}

var _ component.Config = (*Config)(nil)

// Validate names the key of every problem.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Endpoint == "" {
		errs = append(errs, errors.New(`"endpoint" must be specified, e.g. http://127.0.0.1:9090/api/v1/write`))
	} else if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf(`"endpoint" %q must be an http:// or https:// URL`, redact.URL(cfg.Endpoint)))
	}
	switch cfg.OnAuthFailure {
	case "", authDrop, authHold:
	default:
		errs = append(errs, fmt.Errorf(`"on_auth_failure" must be drop (the default) or hold, got %q`, cfg.OnAuthFailure))
	}
	switch cfg.Protocol {
	case protocolV1, protocolV2:
	default:
		errs = append(errs, fmt.Errorf(`"protocol" must be v1 (remote write 1.0) or v2 (2.0), got %q`, cfg.Protocol))
	}
	if cfg.MaxSamplesPerRequest <= 0 {
		errs = append(errs, fmt.Errorf(`"max_samples_per_request" must be positive, got %d`, cfg.MaxSamplesPerRequest))
	}
	if cfg.BatchSendDeadline < 0 {
		errs = append(errs, fmt.Errorf(`"batch_send_deadline" must not be negative, got %s`, cfg.BatchSendDeadline))
	}
	if cfg.MaxRetryAfter < 0 {
		errs = append(errs, fmt.Errorf(`"max_retry_after" must not be negative, got %s`, cfg.MaxRetryAfter))
	}
	if e := cfg.QueueConfig.Enabled; e != nil && !*e {
		errs = append(errs, errors.New(`"sending_queue.enabled": the remote_write exporter always queues (in memory, or on disk with "storage"), so that retries keep samples in order; remove "enabled: false"`))
	}
	if n := cfg.QueueConfig.NumConsumers; n < 0 || n > 1 {
		errs = append(errs, fmt.Errorf(`"sending_queue.num_consumers" must be 1 (got %d): one consumer sends the queue in order; several would reorder samples, which the backend refuses`, n))
	}
	if cfg.QueueConfig.QueueSize <= 0 {
		errs = append(errs, fmt.Errorf(`"sending_queue.queue_size" must be positive, got %d`, cfg.QueueConfig.QueueSize))
	}
	return errors.Join(errs...)
}
