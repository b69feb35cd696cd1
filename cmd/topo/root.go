package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "topo",
		Short: "Network labs from a DOT file: namespaced nodes, veth links, bridges",
		Long: `topo turns a Graphviz DOT file into a running network: every node a set of
Linux namespaces with its own init, every edge a veth pair, every kind=bridge
node a Linux bridge. Run it as root.

  topo up examples/quickstart.dot
  topo exec h1 -- ping -c 3 h2
  topo status
  topo down quickstart`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagError{err}
	})
	root.AddCommand(
		newUp(), newDown(), newLs(), newStatus(), newExec(), newShell(), newCp(), newLogs(), newClean(), newLink(), newCheck(), newGraph(), newCapture(),
	)
	return root
}

// flagError marks a command line that cobra could not parse (exit 2).
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }

func isFlagError(err error) bool {
	var fe *flagError
	if errors.As(err, &fe) {
		return true
	}
	// Cobra reports unknown commands and bad argument counts as plain
	// errors.
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.Contains(s, "arg(s), received") ||
		strings.HasPrefix(s, "requires at least") || strings.HasPrefix(s, "accepts ")
}

// labOption is the --lab flag shared by commands that name nodes.
func labFlag(c *cobra.Command, lab *string) {
	c.Flags().StringVar(lab, "lab", "", "the lab, when several are running")
}

func options() topo.Options { return topo.Options{} }
