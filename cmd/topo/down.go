package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newDown() *cobra.Command {
	var all, wait bool
	c := &cobra.Command{
		Use:   "down [LAB]",
		Short: "End a lab's nodes and remove everything it made",
		Long: `End every node of LAB (the only running lab when omitted) and remove its
state. It also finishes a lab that topo up left half made.

Down returns as soon as the lab's end is under way and its state is gone:
the lab's init, in whose PID namespace every node runs, ends the nodes one
after another, and the kernel frees their namespaces and interfaces, in the
background (a 100-node lab is gone some 30 ms later), as it does after
ip netns del. With --wait, down returns only once every process of the lab
has exited.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opt := options()
			opt.Wait = wait
			var names []string
			switch {
			case all && len(args) > 0:
				return usageError("down: give a LAB or --all, not both")
			case all:
				var err error
				if names, err = topo.Labs(topo.StateRoot()); err != nil {
					return err
				}
			case len(args) == 1:
				names = args
			default:
				labs, err := topo.Labs(topo.StateRoot())
				if err != nil {
					return err
				}
				switch len(labs) {
				case 0:
					return errors.New("no lab is running")
				case 1:
					names = labs
				default:
					return usageError("several labs are running (%v): name one, or --all", labs)
				}
			}
			// Down is what Ctrl-C falls back on: let it finish.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context()), 5*time.Minute)
			defer cancel()
			var errs []error
			for _, name := range names {
				p := newProgress(os.Stderr)
				opt.Progress = p.update
				start := time.Now()
				err := topo.Down(ctx, name, opt)
				p.clear()
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Printf("lab %s down in %v\n", name, time.Since(start).Round(time.Millisecond))
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every running lab")
	c.Flags().BoolVar(&wait, "wait", false, "return only once every process of the lab has exited")
	return c
}
