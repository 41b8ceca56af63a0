package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"errors"

	"github.com/otel-inference/collector/internal/errkind"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
)

// Kinds of scrape failure: the error.type of inference.server.scrape.errors, and what a failure is
// logged once per. Transport failures have errkind's kinds (timeout, connection_refused, ...); an
// HTTP status is its own kind ("503").
const (
	kindBodyTooLarge    = "body_too_large"
	kindParse           = "parse_error"
	kindTooManySeries   = "too_many_series"
	kindInvalidResponse = "invalid_response"
	kindConfig          = "config_error"
	// kindRedirect: a redirect to another host (or from https to http), not followed.
	kindRedirect = "redirect_refused"
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
	return errkind.Transport(err)
}
