package inferenceprobereceiver // import "github.com/otel-inference/collector/receiver/inferenceprobereceiver"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Bounds of what a probe reads of an answer, so that a hostile or broken endpoint cannot grow the
// collector's memory (the OpenAI client reads whole bodies, and stream lines of up to 32 MiB).
const (
	// maxBody bounds one response body, whole or streamed (a stream's every event together).
	maxBody = 4 << 20
	// maxLine bounds one line of an event stream (a server-sent event's data line).
	maxLine = 1 << 20
)

// errTooLarge is a response that passed a bound: the probe reports invalid_response.
var errTooLarge = errors.New("answer too large")

// bounded is a transport whose response bodies stop with errTooLarge past maxBody bytes, and an
// event stream's past a line of maxLine bytes.
type bounded struct{ next http.RoundTripper }

func (b bounded) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	stream := strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/event-stream")
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxBody, lineLeft: maxLine, lines: stream}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left     int
	lineLeft int
	lines    bool // an event stream: its lines are bounded too
	failed   error
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.failed != nil {
		return 0, b.failed
	}
	if b.left <= 0 {
		b.failed = fmt.Errorf("%w: the response is larger than %d bytes", errTooLarge, maxBody)
		return 0, b.failed
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= n
	if !b.lines {
		return n, err
	}
	rest := p[:n]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			b.lineLeft -= len(rest)
			break
		}
		b.lineLeft -= i
		if b.lineLeft < 0 {
			break
		}
		b.lineLeft = maxLine
		rest = rest[i+1:]
	}
	if b.lineLeft < 0 {
		b.failed = fmt.Errorf("%w: a line of the response is longer than %d bytes", errTooLarge, maxLine)
		return n, b.failed
	}
	return n, err
}
