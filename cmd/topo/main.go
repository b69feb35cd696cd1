// Command topo is a network topology emulator: it turns a Graphviz DOT file
// into namespaced nodes wired by veth pairs and bridges.

// topo runs briefly (exec, status) or idles (node inits): neither gains from
// the runtime reading cgroup limits at every start and watching them after.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

func main() {
	// The node inits are this binary too.
	node.MaybeRunInit()
	os.Exit(run(context.Background(), os.Args[1:]))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

// exitError carries a specific exit status, as topo exec returns the
// command's own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad usage (exit 2).
func usageError(format string, a ...any) error {
	return &exitError{code: exitInvalid, err: fmt.Errorf(format, a...)}
}

func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var ve *topo.ValidationError
	switch {
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(os.Stderr, "topo: %v\n", ee.err)
		}
		return ee.code
	case errors.As(err, &ve):
		fmt.Fprintf(os.Stderr, "topo: %v\n", err)
		return exitInvalid
	case isFlagError(err):
		fmt.Fprintf(os.Stderr, "topo: %v\n", err)
		return exitInvalid
	default:
		fmt.Fprintf(os.Stderr, "topo: %v\n", err)
		return exitFailed
	}
}
