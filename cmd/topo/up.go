package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newUp() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "up FILE.dot",
		Short: "Bring up the lab drawn in FILE.dot (- reads stdin)",
		Long: `Validate FILE.dot, then create its nodes, links, addresses and routes and
start each node's exec lines. Nothing is created when the file has a
problem (exit status 2). Ctrl-C, or a failure midway, removes what was made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			lab, err := topo.Load(args[0], name)
			if err != nil {
				// Unreadable or invalid, the topology is bad input.
				return &exitError{code: exitInvalid, err: err}
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			return up(ctx, lab)
		},
	}
	c.Flags().StringVar(&name, "name", "", "run the lab under this name (a second copy of a file)")
	return c
}

func up(ctx context.Context, lab *topo.Lab) error {
	p := newProgress(os.Stderr)
	opt := options()
	opt.Progress = p.update
	start := time.Now()
	err := topo.Up(ctx, lab, opt)
	p.clear()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: lab %s removed", lab.Name)
		}
		return err
	}
	fmt.Printf("lab %s up: %d nodes, %d links in %v\n", lab.Name, len(lab.Nodes), len(lab.Links), time.Since(start).Round(time.Millisecond))
	return nil
}
