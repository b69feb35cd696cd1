package main

import (
	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

// loginShell starts bash as a login shell where the node has it, else sh.
// Debian's bash prompt shows (debian_chroot)user@host: the lab and the node.
const loginShell = `if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l`

func newShell() *cobra.Command {
	var lab string
	c := &cobra.Command{
		Use:   "shell NODE",
		Short: "Open an interactive shell inside a node",
		Long: `Open a login shell inside NODE on a terminal made in the node: the prompt
names the lab and the node, window resizes reach it, Ctrl-C goes to the
program running in the node, and the shell's exit status is topo's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			t, err := topo.FindNode(args[0], lab, options())
			if err != nil {
				return err
			}
			return runIn(t, node.Cmd{
				Argv:  []string{"/bin/sh", "-c", loginShell},
				Extra: []string{"debian_chroot=" + t.Lab, "PS1=(" + t.Lab + ")" + t.Node + "# "},
				Dir:   "/root",
				TTY:   true,
			})
		},
	}
	labFlag(c, &lab)
	return c
}
