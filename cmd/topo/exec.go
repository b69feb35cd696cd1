package main

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

func newExec() *cobra.Command {
	var lab, dir string
	var env []string
	var tty bool
	c := &cobra.Command{
		Use:   "exec NODE -- COMMAND [ARG...]",
		Short: "Run a command inside a node; its exit status is topo's",
		Long: `Run COMMAND inside every namespace of NODE (NODE, or LAB/NODE when several
labs run). The command gets topo's stdin, stdout and stderr themselves, and
signals topo receives (Ctrl-C) are passed on to it. No shell is involved:
write topo exec r1 -- sh -c '...' for one.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 1 {
				return usageError("exec: write topo exec NODE -- COMMAND...")
			}
			t, err := topo.FindNode(args[0], lab, options())
			if err != nil {
				return err
			}
			return runIn(t, node.Cmd{Argv: args[1:], Extra: env, Dir: dir, TTY: tty})
		},
	}
	c.Flags().BoolVarP(&tty, "tty", "t", false, "run the command on a terminal made in the node (for interactive programs)")
	labFlag(c, &lab)
	c.Flags().StringArrayVarP(&env, "env", "e", nil, "set KEY=VALUE in the command's environment")
	c.Flags().StringVarP(&dir, "workdir", "w", "", "working directory in the node (default: the current one if the node has it, else /)")
	return c
}

// runIn runs c in the node with topo's own stdio and signals, and turns the
// command's exit status into topo's.
func runIn(t *topo.Target, c node.Cmd) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	c.Env = append(os.Environ(), "TOPO_LAB="+t.Lab, "TOPO_NODE="+t.Node)
	c.Stdin, c.Stdout, c.Stderr, c.Signals = os.Stdin, os.Stdout, os.Stderr, sigs
	if c.TTY && !isTerminal(os.Stdin) {
		return usageError("a terminal (-t, shell) needs topo's stdin to be one")
	}
	code, err := topo.Exec(t, c)
	if err != nil {
		return &exitError{code: max(code, 1), err: err}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
