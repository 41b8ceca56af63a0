package inferenceprobereceiver // import "github.com/otel-inference/collector/receiver/inferenceprobereceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/otel-inference/collector/internal/errkind"
)

// Results of a check.
const (
	resultPass  = "pass"
	resultFail  = "fail"
	resultError = "error"
)

// error.type values of a probe that got no usable answer (HTTP statuses are their code: "500").
const (
	errInvalidResponse  = "invalid_response"
	errStreamIncomplete = "stream_incomplete"
	errEmptyResponse    = "empty_response"
	errModelDiscovery   = "model_discovery"
)

// outcome is what one probe run measured and concluded.
type outcome struct {
	result  string
	errType string
	err     error
	answer  string // for the log line of a failed check (never a metric attribute)

	requestModel, responseModel string
	duration                    float64
	firstChunk                  float64 // s; < 0 when not streaming or no output chunk came
	chunkGaps                   []float64
	inputTokens, outputTokens   int64
	hasUsage                    bool
}

// prober runs one probe.
type prober struct {
	cfg     ProbeConfig
	op      string // gen_ai.operation.name
	client  *http.Client
	opts    []option.RequestOption
	address string
	port    int64

	re     *regexp.Regexp
	schema *jsonschema.Schema

	running atomic.Bool // a probe never runs twice at once

	mu    sync.Mutex
	model string // configured, or discovered once
}

func operationName(kind string) string {
	switch kind {
	case KindChat:
		return "chat"
	case KindCompletion:
		return "text_completion"
	case KindEmbedding:
		return "embeddings"
	default:
		return "rerank"
	}
}

func newProber(cfg ProbeConfig, client *http.Client) (*prober, error) {
	p := &prober{cfg: cfg, op: operationName(cfg.Kind), client: client, model: cfg.Model}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	p.address = u.Hostname()
	p.port = 80
	if u.Scheme == "https" {
		p.port = 443
	}
	if ps := u.Port(); ps != "" {
		p.port, _ = strconv.ParseInt(ps, 10, 64)
	}
	if cfg.Expect.Regex != "" {
		p.re = regexp.MustCompile(cfg.Expect.Regex) // validated
	}
	if cfg.Expect.JSONSchema != nil {
		if p.schema, err = compileSchema(cfg.Expect.JSONSchema); err != nil {
			return nil, err
		}
	}
	// The services are made without openai.NewClient, which would read OPENAI_API_KEY and
	// OPENAI_BASE_URL from the environment: a probe sends what its configuration says, no more.
	p.opts = []option.RequestOption{
		option.WithBaseURL(strings.TrimSuffix(cfg.Endpoint, "/") + "/"),
		option.WithHTTPClient(client),
		option.WithMaxRetries(0), // a probe measures one attempt
	}
	if cfg.APIKey != "" {
		p.opts = append(p.opts, option.WithAPIKey(string(cfg.APIKey)))
	}
	return p, nil
}

// run sends the probe once and checks the answer. ctx bounds it (the probe's timeout).
func (p *prober) run(ctx context.Context) outcome {
	o := outcome{firstChunk: -1}
	model, err := p.requestModel(ctx)
	if err != nil {
		o.result, o.errType, o.err = resultError, classify(err, false), fmt.Errorf("model discovery: %w", err)
		if o.errType == errInvalidResponse || o.errType == errEmptyResponse {
			o.errType = errModelDiscovery
		}
		return o
	}
	o.requestModel = model
	start := time.Now()
	switch p.cfg.Kind {
	case KindChat, KindCompletion:
		if p.cfg.Stream {
			err = p.stream(ctx, model, start, &o)
		} else {
			err = p.generate(ctx, model, &o)
		}
		if err == nil {
			err = p.checkText(&o)
		}
	case KindEmbedding:
		err = p.embed(ctx, model, &o)
	case KindRerank:
		err = p.rerank(ctx, model, &o)
	}
	o.duration = time.Since(start).Seconds()
	if err != nil {
		var f failure
		if errors.As(err, &f) {
			o.result, o.err = resultFail, err
			return o
		}
		o.result, o.errType, o.err = resultError, classify(err, p.cfg.Stream), err
		return o
	}
	o.result = resultPass
	return o
}

// failure is an answer that did not meet the expectation (not an error: the endpoint answered).
type failure struct{ why string }

func (f failure) Error() string { return f.why }

// requestModel is the configured model, or the first that GET {endpoint}/models lists (asked once,
// again after a failure).
func (p *prober) requestModel(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.model != "" {
		return p.model, nil
	}
	svc := openai.NewModelService(p.opts...)
	page, err := svc.List(ctx)
	if err != nil {
		return "", err
	}
	if len(page.Data) == 0 || page.Data[0].ID == "" {
		return "", fmt.Errorf("%w: GET %s/models lists no model; set \"model\"", errEmpty, redact.URL(strings.TrimSuffix(p.cfg.Endpoint, "/")))
	}
	p.model = page.Data[0].ID
	return p.model, nil
}

var errEmpty = errors.New("empty answer")

func (p *prober) generate(ctx context.Context, model string, o *outcome) error {
	if p.cfg.Kind == KindChat {
		svc := openai.NewChatCompletionService(p.opts...)
		resp, err := svc.New(ctx, openai.ChatCompletionNewParams{
			Model:     model,
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage(p.cfg.Input)},
			MaxTokens: openai.Int(p.cfg.MaxTokens),
		})
		if err != nil {
			return err
		}
		return o.answered(resp.Model, resp.Usage, resp.JSON.Usage.Valid(), len(resp.Choices), func() string { return resp.Choices[0].Message.Content })
	}
	svc := openai.NewCompletionService(p.opts...)
	resp, err := svc.New(ctx, openai.CompletionNewParams{
		Model:     openai.CompletionNewParamsModel(model),
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String(p.cfg.Input)},
		MaxTokens: openai.Int(p.cfg.MaxTokens),
	})
	if err != nil {
		return err
	}
	return o.answered(resp.Model, resp.Usage, resp.JSON.Usage.Valid(), len(resp.Choices), func() string { return resp.Choices[0].Text })
}

// answered records a whole (not streamed) answer: the model that gave it, its usage where the server
// sent one, and the first of its choices.
func (o *outcome) answered(model string, u openai.CompletionUsage, hasUsage bool, choices int, first func() string) error {
	o.responseModel = model
	o.usage(u.PromptTokens, u.CompletionTokens, hasUsage)
	if choices == 0 {
		return fmt.Errorf("%w: no choices", errEmpty)
	}
	o.answer = first()
	return nil
}

func (o *outcome) usage(in, out int64, valid bool) {
	if valid && (in > 0 || out > 0) {
		o.inputTokens, o.outputTokens, o.hasUsage = in, out, true
	}
}

// stream reads a streamed answer: the time to the first chunk that carries output (content, or a
// reasoning model's reasoning), the gaps between output chunks, the usage of the last chunk. A
// stream that ends before a chunk with a finish reason is incomplete.
func (p *prober) stream(ctx context.Context, model string, start time.Time, o *outcome) error {
	r := streamReader{o: o, start: start}
	var err error
	if p.cfg.Kind == KindChat {
		svc := openai.NewChatCompletionService(p.opts...)
		err = readStream(svc.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         model,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(p.cfg.Input)},
			MaxTokens:     openai.Int(p.cfg.MaxTokens),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}), func(c openai.ChatCompletionChunk, now time.Time) {
			r.meta(c.Model, c.Usage, c.JSON.Usage.Valid())
			for _, ch := range c.Choices {
				r.part(now, ch.Delta.Content, hasReasoning(ch.Delta.JSON.ExtraFields), ch.FinishReason != "")
			}
		})
	} else {
		svc := openai.NewCompletionService(p.opts...)
		err = readStream(svc.NewStreaming(ctx, openai.CompletionNewParams{
			Model:         openai.CompletionNewParamsModel(model),
			Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String(p.cfg.Input)},
			MaxTokens:     openai.Int(p.cfg.MaxTokens),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}), func(c openai.Completion, now time.Time) {
			r.meta(c.Model, c.Usage, c.JSON.Usage.Valid())
			for _, ch := range c.Choices {
				r.part(now, ch.Text, false, ch.FinishReason != "")
			}
		})
	}
	if err != nil {
		return err
	}
	if !r.finished {
		return errIncomplete
	}
	o.answer = r.text.String()
	return nil
}

// readStream hands each chunk of a stream, with the time it came, to each.
func readStream[T any](s *ssestream.Stream[T], each func(T, time.Time)) error {
	defer s.Close()
	for s.Next() {
		each(s.Current(), time.Now())
	}
	return s.Err()
}

// streamReader gathers what the chunks of a stream say, whatever the API.
type streamReader struct {
	o        *outcome
	start    time.Time
	last     time.Time
	text     strings.Builder
	finished bool
}

func (r *streamReader) meta(model string, u openai.CompletionUsage, valid bool) {
	if model != "" {
		r.o.responseModel = model
	}
	r.o.usage(u.PromptTokens, u.CompletionTokens, valid)
}

// part is one choice's piece of a chunk: its text, whether it carried other output (reasoning), and
// whether it finished the answer.
func (r *streamReader) part(now time.Time, text string, otherOutput, finish bool) {
	if text != "" || otherOutput {
		if r.last.IsZero() {
			r.o.firstChunk = now.Sub(r.start).Seconds()
		} else {
			r.o.chunkGaps = append(r.o.chunkGaps, now.Sub(r.last).Seconds())
		}
		r.last = now
	}
	r.text.WriteString(text)
	if finish {
		r.finished = true
	}
}

var errIncomplete = errors.New("the stream ended before a chunk with a finish reason")

// hasReasoning: vLLM and SGLang stream a reasoning model's thinking as delta.reasoning_content
// (newer vLLM: delta.reasoning) before any content; it is output, for the time to first chunk.
func hasReasoning[F interface{ Raw() string }](extra map[string]F) bool {
	for _, k := range []string{"reasoning_content", "reasoning"} {
		if f, ok := extra[k]; ok {
			if raw := f.Raw(); raw != "" && raw != "null" && raw != `""` {
				return true
			}
		}
	}
	return false
}

// checkText checks a chat or completion answer against every expectation given.
func (p *prober) checkText(o *outcome) error {
	e := &p.cfg.Expect
	a := o.answer
	switch {
	case e.Contains != "" && !strings.Contains(a, e.Contains):
		return failure{fmt.Sprintf("the answer does not contain %q", e.Contains)}
	case e.Equals != "" && strings.TrimSpace(a) != e.Equals:
		return failure{fmt.Sprintf("the answer is not %q", e.Equals)}
	case p.re != nil && !p.re.MatchString(a):
		return failure{fmt.Sprintf("the answer does not match %q", e.Regex)}
	}
	if p.schema != nil {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(stripFence(a)))
		if err != nil {
			return failure{fmt.Sprintf("the answer is not JSON: %v", err)}
		}
		if err := p.schema.Validate(doc); err != nil {
			return failure{fmt.Sprintf("the answer does not satisfy the schema: %v", err)}
		}
	}
	return nil
}

// stripFence takes the JSON out of a ```json … ``` fence that models like to add.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		}
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	return s
}

func (p *prober) embed(ctx context.Context, model string, o *outcome) error {
	svc := openai.NewEmbeddingService(p.opts...)
	resp, err := svc.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModel(model),
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(p.cfg.Input)},
	})
	if err != nil {
		return err
	}
	o.responseModel = resp.Model
	o.usage(resp.Usage.PromptTokens, 0, resp.JSON.Usage.Valid())
	if len(resp.Data) == 0 || len(resp.Data[0].Embedding) == 0 {
		return fmt.Errorf("%w: no embedding", errEmpty)
	}
	v := resp.Data[0].Embedding
	o.answer = fmt.Sprintf("an embedding of %d dimensions", len(v))
	e := &p.cfg.Expect
	if e.Dimensions > 0 && len(v) != e.Dimensions {
		return failure{fmt.Sprintf("the embedding has %d dimensions, not %d", len(v), e.Dimensions)}
	}
	if e.Reference != nil {
		if len(v) != len(e.Reference) {
			return failure{fmt.Sprintf("the embedding has %d dimensions; the reference %d", len(v), len(e.Reference))}
		}
		minSim := defaultMinSimilarity
		if e.MinSimilarity != nil {
			minSim = *e.MinSimilarity
		}
		if sim := cosine(v, e.Reference); !(sim >= minSim) {
			return failure{fmt.Sprintf("cosine similarity to the reference is %.4f, below %g", sim, minSim)}
		}
	}
	return nil
}

func cosine(a, b []float64) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		return math.NaN()
	}
	return dot / math.Sqrt(na*nb)
}

// rankedResult is one document's place in a rerank answer.
type rankedResult struct {
	Index          *int     `json:"index"`
	RelevanceScore *float64 `json:"relevance_score"` // vLLM, Jina, Cohere
	Score          *float64 `json:"score"`           // TEI
}

// rerank posts {model, query, documents} to {endpoint}/rerank; the answer is {results: [{index,
// relevance_score}]} (vLLM, Jina, Cohere) or [{index, score}] (TEI).
func (p *prober) rerank(ctx context.Context, model string, o *outcome) error {
	body, err := json.Marshal(map[string]any{"model": model, "query": p.cfg.Input, "documents": p.cfg.Documents})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.cfg.Endpoint, "/")+"/rerank", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+string(p.cfg.APIKey))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return statusError{code: resp.StatusCode}
	}
	if len(raw) > maxBody {
		return fmt.Errorf("%w: rerank answer larger than %d bytes", errInvalid, maxBody)
	}
	var results []rankedResult
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &results); err != nil {
			return fmt.Errorf("%w: %w", errInvalid, err)
		}
	} else {
		var obj struct {
			Model   string         `json:"model"`
			Results []rankedResult `json:"results"`
			Usage   struct {
				PromptTokens int64 `json:"prompt_tokens"`
				TotalTokens  int64 `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return fmt.Errorf("%w: %w", errInvalid, err)
		}
		results, o.responseModel = obj.Results, obj.Model
		in := obj.Usage.PromptTokens
		if in == 0 {
			in = obj.Usage.TotalTokens
		}
		o.usage(in, 0, true)
	}
	type ranked struct {
		index int
		score float64
	}
	var rs []ranked
	for _, r := range results {
		score := r.RelevanceScore
		if score == nil {
			score = r.Score
		}
		if r.Index == nil || score == nil || *r.Index < 0 || *r.Index >= len(p.cfg.Documents) {
			return fmt.Errorf("%w: a rerank result without a valid index and score", errInvalid)
		}
		rs = append(rs, ranked{*r.Index, *score})
	}
	if len(rs) == 0 {
		return fmt.Errorf("%w: no rerank results", errEmpty)
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].score > rs[j].score })
	o.answer = fmt.Sprintf("document %d ranked first (score %g)", rs[0].index, rs[0].score)
	e := &p.cfg.Expect
	if e.Top != nil && rs[0].index != *e.Top {
		return failure{fmt.Sprintf("document %d ranked first, not %d", rs[0].index, *e.Top)}
	}
	if e.MinScore != nil && rs[0].score < *e.MinScore {
		return failure{fmt.Sprintf("the top score %g is below %g", rs[0].score, *e.MinScore)}
	}
	return nil
}

var errInvalid = errors.New("invalid response")

type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
}

// classify names why a probe got no usable answer (error.type): the HTTP status, what the answer
// lacked, or the transport failure as the inference receiver's scrapes name it (errkind).
func classify(err error, stream bool) string {
	var apiErr *openai.Error
	var se statusError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.As(err, &se):
		return strconv.Itoa(se.code)
	}
	if errors.Is(err, errTooLarge) {
		return errInvalidResponse
	}
	if k := errkind.Transport(err); k != errkind.Connection {
		return k // timeout, refused, DNS, TLS
	}
	var netErr net.Error
	switch {
	case errors.Is(err, errIncomplete), stream && errors.Is(err, io.ErrUnexpectedEOF):
		// A stream cut mid-way; a plain body cut short is an invalid response.
		return errStreamIncomplete
	case errors.Is(err, errEmpty):
		return errEmptyResponse
	case errors.Is(err, errInvalid), errors.Is(err, errTooLarge), errors.As(err, &syntax), errors.As(err, &typeErr):
		return errInvalidResponse
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return errkind.Connection
	default:
		return errInvalidResponse
	}
}
