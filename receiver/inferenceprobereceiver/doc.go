// Package inferenceprobereceiver sends small known requests to OpenAI-compatible endpoints on a
// schedule, times them as a client and checks the answers: GenAI client metrics and a pass / fail /
// error count per probe, from which the ratio processor derives inference.probe.pass_ratio.
//
// metadata.yaml is the one declaration of its metrics; `make generate` runs mdatagen and
// cmd/schemagen on it.
package inferenceprobereceiver // import "github.com/otel-inference/collector/receiver/inferenceprobereceiver"
