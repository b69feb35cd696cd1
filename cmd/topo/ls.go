package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newLs() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "ls",
		Short: "List running labs",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			labs, err := topo.List(options())
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(labs)
			}
			w := newTable(os.Stdout)
			row(w, "LAB", "PHASE", "NODES", "ALIVE", "LINKS", "FILE")
			for _, l := range labs {
				row(w, l.Name, l.Phase, l.Nodes, l.Alive, l.Links, l.File)
			}
			return w.Flush()
		},
	}
	outputFlag(c, &out)
	return c
}
