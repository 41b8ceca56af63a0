package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
)

// Kinds of scrape failure: the error.type of inference.server.scrape.errors, and what a failure is
// logged once per. An HTTP status is its own kind ("503").
const (
	kindTimeout         = "timeout"
	kindCanceled        = "canceled"
	kindRefused         = "connection_refused"
	kindConnection      = "connection_error"
	kindDNS             = "dns_error"
	kindTLS             = "tls_error"
	kindBodyTooLarge    = "body_too_large"
	kindParse           = "parse_error"
	kindTooManySeries   = "too_many_series"
	kindInvalidResponse = "invalid_response"
	kindConfig          = "config_error"
)

// kindError is a scrape failure whose kind its source knows.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func kindErr(kind string, err error) error { return &kindError{kind: kind, err: err} }

// errorKind classifies a scrape failure; messages whose text changes (a redirect's URL, a timeout's
// wording) keep one kind, so that each is logged once.
func errorKind(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	var se *exposition.SyntaxError
	if errors.As(err, &se) {
		return kindParse
	}
	var tooMany *exposition.TooManySeriesError
	if errors.As(err, &tooMany) {
		return kindTooManySeries
	}
	if errors.Is(err, context.Canceled) {
		return kindCanceled
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return kindTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return kindDNS
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return kindRefused
	}
	var (
		recordErr  tls.RecordHeaderError
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	if errors.As(err, &recordErr) || errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return kindTLS
	}
	return kindConnection
}
