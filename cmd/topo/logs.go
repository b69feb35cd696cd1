package main

import (
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newLogs() *cobra.Command {
	var lab string
	var follow bool
	c := &cobra.Command{
		Use:   "logs NODE",
		Short: "Print a node's log: its exec lines' output",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			t, err := topo.FindNode(args[0], lab, options())
			if err != nil {
				return err
			}
			p, err := t.Proc()
			if err != nil {
				return err
			}
			f, err := os.Open(t.Log())
			if err != nil {
				return err
			}
			defer f.Close()
			for {
				if _, err := io.Copy(os.Stdout, f); err != nil {
					return err
				}
				if !follow || !p.Alive() {
					return nil
				}
				select {
				case <-c.Context().Done():
					return nil
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	labFlag(c, &lab)
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the log grows")
	return c
}
