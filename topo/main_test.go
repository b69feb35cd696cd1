package topo

import (
	"os"
	"testing"
	"time"

	"github.com/topo-lab/topo/node"
)

// TestMain lets the test binary serve as the node init, as topo does.
func TestMain(m *testing.M) {
	if os.Getenv(lookalikeEnv) != "" {
		// A process that only looks like a node init (see TestClean).
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	node.MaybeRunInit()
	// Schedules re-execute the test binary as "topo link __sched DIR ID".
	MaybeRunSchedule()
	if os.Getenv(sharedNSHelperEnv) != "" {
		os.Exit(runSharedNSHelper())
	}
	os.Exit(m.Run())
}
