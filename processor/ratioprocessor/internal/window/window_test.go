package window

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

const s = int64(1e9) // one second in nanoseconds

func TestIncrease(t *testing.T) {
	type obs struct {
		t, start int64
		v        float64
	}
	tests := []struct {
		name   string
		points []obs
		at, w  int64
		want   float64
		ok     bool
	}{
		{name: "steady", points: []obs{{10 * s, 1, 0}, {20 * s, 1, 10}, {30 * s, 1, 20}, {40 * s, 1, 30}}, at: 40 * s, w: 20 * s, want: 20, ok: true},
		{name: "younger than the window uses the oldest point", points: []obs{{10 * s, 1, 5}, {20 * s, 1, 15}}, at: 20 * s, w: 300 * s, want: 10, ok: true},
		{name: "one point is no increase", points: []obs{{10 * s, 1, 5}}, at: 10 * s, w: 300 * s, ok: false},
		{name: "reset counts from zero", points: []obs{{10 * s, 1, 100}, {20 * s, 1, 110}, {30 * s, 1, 4}, {40 * s, 1, 9}}, at: 40 * s, w: 30 * s, want: 10 + 4 + 5, ok: true},
		{name: "restart seen by start time although the value grew", points: []obs{{10 * s, 1, 100}, {20 * s, 25 * s, 150}}, at: 20 * s, w: 60 * s, want: 150, ok: true},
		{name: "window ends before newest point", points: []obs{{10 * s, 1, 0}, {20 * s, 1, 10}, {30 * s, 1, 30}}, at: 20 * s, w: 10 * s, want: 10, ok: true},
		{name: "gap longer than the window", points: []obs{{10 * s, 1, 0}, {20 * s, 1, 10}, {200 * s, 1, 50}}, at: 200 * s, w: 60 * s, want: 40, ok: true},
		{name: "duplicate timestamp ignored", points: []obs{{10 * s, 1, 0}, {10 * s, 1, 99}, {20 * s, 1, 10}}, at: 20 * s, w: 60 * s, want: 10, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ser Series
			for _, p := range tt.points {
				ser.AddCumulative(p.t, p.start, p.v, 0, 300*s)
			}
			got, _, ok := ser.Increase(tt.at, tt.w)
			assert.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestDeltaCountsItsFirstPoint(t *testing.T) {
	var ser Series
	ser.AddDelta(10*s, 5*s, 3, 1, 300*s)
	ser.AddDelta(20*s, 10*s, 4, 2, 300*s)
	got, gotW, ok := ser.Increase(20*s, 60*s)
	assert.True(t, ok)
	assert.InDelta(t, 7, got, 1e-9)
	assert.InDelta(t, 3, gotW, 1e-9)
}

func TestPruneKeepsBaseline(t *testing.T) {
	var ser Series
	for i := int64(0); i <= 100; i++ {
		ser.AddCumulative(i*s, 1, float64(i), 0, 10*s)
	}
	// Points within (90, 100] plus the baseline at 90.
	assert.Equal(t, 11, ser.Len())
	got, _, ok := ser.Increase(100*s, 10*s)
	assert.True(t, ok)
	assert.InDelta(t, 10, got, 1e-9)
}

func TestPairedCounterRestartsWithItsCount(t *testing.T) {
	var ser Series
	ser.AddCumulative(10*s, 1, 100, 40, 300*s)
	ser.AddCumulative(20*s, 1, 110, 45, 300*s)
	// Restart: the count dropped; the paired value counts from zero even though it did not drop.
	ser.AddCumulative(30*s, 25*s, 8, 50, 300*s)
	inc, incW, ok := ser.Increase(30*s, 60*s)
	assert.True(t, ok)
	assert.InDelta(t, 10+8, inc, 1e-9)
	assert.InDelta(t, 5+50, incW, 1e-9)
	ser.Clear()
	assert.Equal(t, 0, ser.Len())
}
