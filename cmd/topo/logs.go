package main

import (
	"errors"
	"io"
	"io/fs"
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
			p := t.Proc()
			// The init makes the log on its first line: none yet is
			// an empty log.
			var f *os.File
			defer func() {
				if f != nil {
					f.Close()
				}
			}()
			for {
				if f == nil {
					f, err = os.Open(t.Log())
					if err != nil && !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
				if f != nil {
					if _, err := io.Copy(os.Stdout, f); err != nil {
						return err
					}
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
