package confcheck

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

type entry struct{ name, bad string }

func TestEachNamed(t *testing.T) {
	list := []entry{{name: "a"}, {bad: "x"}, {name: "a", bad: "y"}, {name: "b"}, {name: "a"}}
	check := func(e *entry, where string) []error {
		if e.bad == "" {
			return nil
		}
		return []error{errors.New(where + ": bad " + e.bad)}
	}
	name := func(e *entry) string { return e.name }
	var got []string
	for _, err := range EachNamed(list, "rules", "rule", "it names the output", name, check) {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		`rules[1]: "name" must be set (it names the output)`,
		`rules[1]: bad x`,
		`rule "a": "name" is used by rules[0] too; names must be unique`,
		`rule "a": bad y`,
		`rule "a": "name" is used by rules[0] too; names must be unique`,
	}, got)

	got = nil
	for _, err := range EachNamed(list, "servers", "server", "", name, check) {
		got = append(got, err.Error())
	}
	assert.Equal(t, `servers[1]: bad x`, got[0], "optional names: no error for a missing one")
	assert.Len(t, got, 4)
	assert.Empty(t, EachNamed([]entry{{name: "a"}, {name: "b"}}, "k", "n", "why", name, check))
}
