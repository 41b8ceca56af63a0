// Command vulngate reads govulncheck's JSON (-format json) on stdin and fails on a vulnerable symbol
// the code calls in a module (a dependency to upgrade). The same in the Go standard library is said
// with the Go release that fixes it and fails only with -stdlib=fail: the standard library comes
// with the toolchain that builds the collector (the machine's Go), not with go.mod.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type trace struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []trace `json:"trace"`
	} `json:"finding"`
}

// called is a vulnerability the code reaches: its module, version and the fix.
type called struct{ module, version, fixed string }

func main() {
	stdlib := flag.String("stdlib", "warn", "what a called standard-library vulnerability does: warn or fail")
	flag.Parse()
	found, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed := false
	for _, id := range ids {
		c := found[id]
		where := fmt.Sprintf("%s %s: %s@%s, fixed in %s (https://pkg.go.dev/vuln/%s)", id, "called", c.module, c.version, c.fixed, id)
		if c.module == "stdlib" {
			fmt.Printf("standard library: %s — build with a Go that has the fix\n", where)
			failed = failed || *stdlib == "fail"
			continue
		}
		fmt.Printf("VULNERABLE: %s — upgrade the module (go.mod, or builder-config*.yaml replaces)\n", where)
		failed = true
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("vulngate: no called vulnerability in a module (%d in the standard library)\n", len(ids)-countModules(found))
}

// read collects the vulnerabilities whose symbols are called (a finding whose trace names a function).
func read(r io.Reader) (map[string]called, error) {
	dec := json.NewDecoder(r)
	found := map[string]called{}
	seen := false
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading govulncheck's JSON: %w", err)
		}
		seen = true
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // a module or package imported, its vulnerable symbol not called
		}
		found[f.OSV] = called{module: f.Trace[0].Module, version: strings.TrimPrefix(f.Trace[0].Version, "v"), fixed: f.FixedVersion}
	}
	if !seen {
		return nil, errors.New("no govulncheck output on stdin")
	}
	return found, nil
}

func countModules(found map[string]called) int {
	n := 0
	for _, c := range found {
		if c.module != "stdlib" {
			n++
		}
	}
	return n
}
