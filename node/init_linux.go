package node

import (
	"fmt"
	"os"
)

// MaybeRunInit is what is left in Go of a node's init, which is C (init.c):
// a constructor takes over before the Go runtime starts in a process that
// Start made an init, so this never runs in one. It ends a process that
// only looks like an init (its command line run by hand, outside a new PID
// namespace) rather than let it run as an ordinary topo with odd arguments.
// Call it first thing in main and in the TestMain of packages whose tests
// start nodes.
func MaybeRunInit() {
	if (len(os.Args) == 3 || len(os.Args) == 4) && os.Args[1] == initArg {
		fmt.Fprintf(os.Stderr, "topo: %q is how topo starts a node's init; it is not a command\n", initArg)
		os.Exit(2)
	}
}
