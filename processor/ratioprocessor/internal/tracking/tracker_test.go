package tracking

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func attrs(kv ...string) pcommon.Map {
	m := pcommon.NewMap()
	for i := 0; i+1 < len(kv); i += 2 {
		m.PutStr(kv[i], kv[i+1])
	}
	return m
}

func TestStreamKeyIsTheFullIdentity(t *testing.T) {
	base := Stream{Resource: 1, Scope: 2, Name: "inference.requests", Unit: "{request}", Type: pmetric.MetricTypeSum}
	a := attrs("model", "m1", "outcome", "error")
	key := Key(base.Seed(), a, 0)

	intOne := pcommon.NewMap()
	intOne.PutInt("model", 1)
	strOne := attrs("model", "1")

	for _, tc := range []struct {
		name string
		same bool
		key  uint64
	}{
		{"attribute order does not matter", true, Key(base.Seed(), attrs("outcome", "error", "model", "m1"), 0)},
		{"resource", false, Key(Stream{Resource: 9, Scope: 2, Name: base.Name, Unit: base.Unit, Type: base.Type}.Seed(), a, 0)},
		{"scope", false, Key(Stream{Resource: 1, Scope: 9, Name: base.Name, Unit: base.Unit, Type: base.Type}.Seed(), a, 0)},
		{"metric name", false, Key(Stream{Resource: 1, Scope: 2, Name: "inference.tokens", Unit: base.Unit, Type: base.Type}.Seed(), a, 0)},
		{"unit", false, Key(Stream{Resource: 1, Scope: 2, Name: base.Name, Unit: "1", Type: base.Type}.Seed(), a, 0)},
		{"type", false, Key(Stream{Resource: 1, Scope: 2, Name: base.Name, Unit: base.Unit, Type: pmetric.MetricTypeGauge}.Seed(), a, 0)},
		{"an attribute value", false, Key(base.Seed(), attrs("model", "m2", "outcome", "error"), 0)},
		{"an extra attribute", false, Key(base.Seed(), attrs("model", "m1", "outcome", "error", "x", ""), 0)},
		{"salt", false, Key(base.Seed(), a, 1)},
		{"name and unit do not run together", false, Key(Stream{Resource: 1, Scope: 2, Name: base.Name + "{", Unit: "request}", Type: base.Type}.Seed(), a, 0)},
	} {
		if tc.same {
			assert.Equal(t, key, tc.key, tc.name)
		} else {
			assert.NotEqual(t, key, tc.key, tc.name)
		}
	}
	assert.NotEqual(t, Key(base.Seed(), intOne, 0), Key(base.Seed(), strOne, 0), "an int 1 and a string \"1\" are different streams")
}

func TestScopeAndResourceHash(t *testing.T) {
	s1 := pcommon.NewInstrumentationScope()
	s1.SetName("a")
	s1.SetVersion("1")
	s2 := pcommon.NewInstrumentationScope()
	s2.SetName("a")
	s2.SetVersion("2")
	s3 := pcommon.NewInstrumentationScope()
	s3.SetName("a1")
	assert.NotEqual(t, ScopeHash(s1), ScopeHash(s2), "version")
	assert.NotEqual(t, ScopeHash(s1), ScopeHash(s3), "name and version do not run together")

	r1, r2 := pcommon.NewResource(), pcommon.NewResource()
	r1.Attributes().PutStr("service.name", "vllm")
	r2.Attributes().PutStr("service.name", "tgi")
	assert.NotEqual(t, ResourceHash(r1), ResourceHash(r2))
}

func TestGroupKeyMissingDiffersFromEmpty(t *testing.T) {
	by := []string{"model"}
	assert.NotEqual(t, GroupKey(1, "r", by, attrs()), GroupKey(1, "r", by, attrs("model", "")))
	assert.NotEqual(t, GroupKey(1, "r", by, attrs("model", "a")), GroupKey(2, "r", by, attrs("model", "a")), "resource")
	assert.NotEqual(t, GroupKey(1, "r", by, attrs("model", "a")), GroupKey(1, "s", by, attrs("model", "a")), "rule")
	assert.Equal(t, GroupKey(1, "r", by, attrs("model", "a", "other", "x")), GroupKey(1, "r", by, attrs("model", "a", "other", "y")),
		"attributes outside group_by do not split groups")
}

func TestCap(t *testing.T) {
	tr := New(1, 2)
	a, first := tr.Series(1)
	require.NotNil(t, a)
	assert.False(t, first)
	b, _ := tr.Series(2)
	require.NotNil(t, b)

	c, first := tr.Series(3)
	assert.Nil(t, c, "over the cap")
	assert.True(t, first, "the first refusal is reported once")
	_, first = tr.Series(4)
	assert.False(t, first)
	assert.Equal(t, int64(2), tr.Untracked)

	again, _ := tr.Series(1)
	assert.Same(t, a, again, "known series are still served at the cap")
	n, _ := tr.Len()
	assert.Equal(t, 2, n)
}

func TestLinkTouchAndSweep(t *testing.T) {
	tr := New(2, 10)
	s1, _ := tr.Series(1)
	s2, _ := tr.Series(2)
	made := 0
	mk := func() pcommon.Map { made++; return attrs("model", "m") }
	g := tr.Group(100, 0, mk)
	assert.Same(t, g, tr.Group(100, 0, mk), "one group per key")
	assert.Equal(t, 1, made, "attributes are built once")

	tr.Link(s1, g, true, true)
	tr.Link(s1, g, true, true)
	tr.Link(s2, g, false, true)
	assert.Len(t, g.Num, 1, "linked once")
	assert.Len(t, g.Den, 2)
	assert.Same(t, g, s1.Groups[0])
	assert.Nil(t, s1.Groups[1], "rule 1 does not use s1")

	tr.Begin()
	tr.Touch(g, 30)
	tr.Touch(g, 50)
	tr.Touch(g, 40)
	require.Len(t, tr.Touched(), 1)
	assert.Equal(t, int64(50), g.TouchedT, "the newest point time")
	tr.Begin()
	assert.Empty(t, tr.Touched(), "a new batch starts empty")
	tr.Touch(g, 10)
	assert.Equal(t, int64(10), g.TouchedT)

	s1.LastSeen, s2.LastSeen = 100, 1000
	tr.Sweep(1050, 500)
	n, groups := tr.Len()
	assert.Equal(t, 1, n, "s1 is stale")
	assert.Equal(t, 1, groups, "the group keeps its live series")
	assert.Empty(t, g.Num)
	assert.Equal(t, []*Series{s2}, g.Den)

	tr.Sweep(2000, 500)
	n, groups = tr.Len()
	assert.Zero(t, n)
	assert.Zero(t, groups, "a group with no series left is dropped")
	assert.Nil(t, tr.Any())
}
