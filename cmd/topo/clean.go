package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newClean() *cobra.Command {
	var lab, out string
	c := &cobra.Command{
		Use:   "clean",
		Short: "End everything topo left running, even without its state",
		Long: `End every node of every lab (or of --lab) and remove their state, including
nodes whose state folder is gone (found by their command line and by being
PID 1 of their own namespace). Nothing that is not topo's is touched.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context()), 5*time.Minute)
			defer cancel()
			rep, err := topo.Clean(ctx, lab, options())
			if out == "json" {
				if jerr := writeJSON(rep); jerr != nil {
					return jerr
				}
			} else if len(rep.Labs) == 0 && err == nil {
				fmt.Println("nothing to clean")
			} else {
				fmt.Printf("cleaned %d node inits of %d labs: %s\n", rep.Inits, len(rep.Labs), strings.Join(rep.Labs, ", "))
			}
			return err
		},
	}
	c.Flags().StringVar(&lab, "lab", "", "only this lab")
	outputFlag(c, &out)
	return c
}
