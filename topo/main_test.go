package topo

import (
	"os"
	"testing"

	"github.com/topo-lab/topo/node"
)

// TestMain lets the test binary serve as the node init, as topo does.
func TestMain(m *testing.M) {
	node.MaybeRunInit()
	if os.Getenv(sharedNSHelperEnv) != "" {
		os.Exit(runSharedNSHelper())
	}
	os.Exit(m.Run())
}
