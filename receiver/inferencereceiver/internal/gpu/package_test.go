package gpu

import (
	"testing"

	"go.uber.org/goleak"
)

// The Xid reader goroutine must stop with Shutdown.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
