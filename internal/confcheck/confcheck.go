// Package confcheck holds what the components' Validate methods share: walking a configured list of
// named entries (servers, probes, rules) so that every error names the entry it is about.
package confcheck // import "github.com/otel-inference/collector/internal/confcheck"

import "fmt"

// EachNamed calls check for each entry of a configured list with where, the entry as an error names
// it: `noun "name"` once it has a name, key[i] before. It returns, entry by entry, the errors of a
// name used twice (naming the entry that has it first) and, where required says why a name is needed
// (it is "" where names are optional), of a missing name, then check's errors.
func EachNamed[T any](list []T, key, noun, required string, name func(*T) string, check func(e *T, where string) []error) []error {
	var errs []error
	first := make(map[string]int, len(list))
	for i := range list {
		e := &list[i]
		where := fmt.Sprintf("%s[%d]", key, i)
		switch n := name(e); {
		case n != "":
			where = fmt.Sprintf("%s %q", noun, n)
			if j, dup := first[n]; dup {
				errs = append(errs, fmt.Errorf(`%s: "name" is used by %s[%d] too; names must be unique`, where, key, j))
			} else {
				first[n] = i
			}
		case required != "":
			errs = append(errs, fmt.Errorf(`%s: "name" must be set (%s)`, where, required))
		}
		errs = append(errs, check(e, where)...)
	}
	return errs
}
