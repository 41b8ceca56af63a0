//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package inferencereceiver scrapes AI model servers and turns what they expose into OTLP metrics
// with one schema (see documentation.md and README.md).
package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"
