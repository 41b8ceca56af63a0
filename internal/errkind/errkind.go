// Package errkind names why an HTTP request to a model server or an endpoint failed in transport:
// the error.type values the inference receiver's scrapes and the inference_probe receiver's probes
// share, so that one network failure reads the same in both.
package errkind // import "github.com/otel-inference/collector/internal/errkind"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"
)

// Transport failure kinds (error.type).
const (
	Timeout    = "timeout"
	Canceled   = "canceled"
	Refused    = "connection_refused"
	Connection = "connection_error"
	DNS        = "dns_error"
	TLS        = "tls_error"
)

// Transport names a failure to reach or talk to a server: timeout, canceled, dns_error,
// connection_refused, tls_error, and connection_error for any other.
func Transport(err error) string {
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return Timeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return DNS
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return Refused
	}
	var (
		recordErr  tls.RecordHeaderError
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	if errors.As(err, &recordErr) || errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return TLS
	}
	return Connection
}
