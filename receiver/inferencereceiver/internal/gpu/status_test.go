package gpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHealthRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    health
		xids map[uint64]int64
		want string
	}{
		{"nothing wrong", health{}, nil, "ok"},
		{"an application's own error (Xid 13, 31, 43)", health{}, map[uint64]int64{13: 2, 31: 1, 43: 1}, "ok"},
		{"fell off the bus", health{lost: true}, nil, "failed"},
		{"Xid 79", health{}, map[uint64]int64{79: 1}, "failed"},
		{"double-bit ECC, Xid 48", health{}, map[uint64]int64{48: 1}, "failed"},
		{"uncontained ECC, Xid 95", health{}, map[uint64]int64{95: 1}, "failed"},
		{"row remapping failed", health{remapFailed: true}, nil, "failed"},
		{"row remapped, Xid 63", health{}, map[uint64]int64{63: 1}, "predicted_failure"},
		{"high single-bit rate, Xid 92", health{}, map[uint64]int64{92: 1}, "predicted_failure"},
		{"contained ECC, Xid 94", health{}, map[uint64]int64{94: 1}, "degraded"},
		{"remapping pending a reset", health{remapPending: true}, nil, "degraded"},
		{"hardware slowdown", health{hwSlowdown: true}, nil, "degraded"},
		{"the worst wins", health{hwSlowdown: true}, map[uint64]int64{63: 1, 79: 1}, "failed"},
		{"predicted over degraded", health{remapPending: true}, map[uint64]int64{63: 1}, "predicted_failure"},
	} {
		assert.Equal(t, tc.want, tc.h.state(tc.xids), tc.name)
	}
}
