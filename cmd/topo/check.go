package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newCheck() *cobra.Command {
	var out, file string
	var wait time.Duration
	c := &cobra.Command{
		Use:   "check [LAB]",
		Short: "Evaluate the checks a lab declares: pings, routes, command output",
		Long: `Evaluate the checks of a running lab and print one row per check: whether it
passed, what it expected and what it saw. The checks come from the file the
graph attribute checks names (relative to the DOT file), else from the DOT
file's name with .checks instead of .dot; --file names another.

One check per line, # starts a note:

  ping h1 h2                               h1 gets a reply from h2
  not ping h1 10.9.0.1                     no reply
  route r1 10.0.2.0/24 via 10.0.12.2       a route in r1's table (dev, proto too)
  run r1 "vtysh -c 'show ip ospf neighbor'" contains "Full"
  run r1 "ip -br addr" matches "eth0 +UP"  a regular expression
  pingall                                  every host pings every host: a grid

The exit status is 0 when every check passes, 1 when some fail. With --wait,
checks run again every second until all pass or the time is up: routing
protocols take seconds to converge.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			if wait < 0 {
				return usageError("--wait %v: give a duration such as 30s", wait)
			}
			name, err := oneLab(args)
			if err != nil {
				return err
			}
			co := topo.CheckOptions{File: file, Wait: wait}
			p := newProgress(os.Stderr)
			co.Round = func(r *topo.CheckReport) {
				p.update(topo.Progress{Stage: fmt.Sprintf("waiting %.0fs: checks passing", r.Seconds), Done: r.Passed, Total: r.Passed + r.Failed})
			}
			rep, err := topo.RunChecks(c.Context(), name, options(), co)
			p.clear()
			if err != nil {
				return err
			}
			if out == "json" {
				if err := writeJSON(rep); err != nil {
					return err
				}
			} else if err := printChecks(os.Stdout, rep, wait > 0); err != nil {
				return err
			}
			if !rep.Pass {
				return &exitError{code: exitFailed}
			}
			return nil
		},
	}
	outputFlag(c, &out)
	c.Flags().DurationVar(&wait, "wait", 0, "run the checks again until all pass or this much time has passed, e.g. 90s")
	c.Flags().StringVarP(&file, "file", "f", "", "the checks file to use instead of the lab's own")
	return c
}

// printChecks writes the results as a table, each pingall's grid after it,
// and a last line that sums up.
func printChecks(w io.Writer, rep *topo.CheckReport, waited bool) error {
	notes := false
	for _, r := range rep.Results {
		notes = notes || r.Note != ""
	}
	t := newTable(w)
	head := []any{"LINE", "RESULT", "CHECK", "EXPECTED", "SEEN"}
	if notes {
		head = append(head, "NOTE")
	}
	row(t, head...)
	for _, r := range rep.Results {
		res := "pass"
		if !r.Pass {
			res = "FAIL"
		}
		cols := []any{r.Line, res, r.Check, r.Expected, r.Seen}
		if notes {
			cols = append(cols, r.Note)
		}
		row(t, cols...)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Matrix != nil {
			fmt.Fprintf(w, "\n%s (line %d): a row pings each column\n", r.Check, r.Line)
			printMatrix(w, r.Matrix)
		}
	}
	fmt.Fprintln(w)
	after := ""
	if waited {
		after = fmt.Sprintf(" after %.1fs (%d %s)", rep.Seconds, rep.Rounds, plural(rep.Rounds, "round", "rounds"))
	}
	if rep.Pass {
		fmt.Fprintf(w, "all %d checks pass%s\n", rep.Passed, after)
	} else {
		fmt.Fprintf(w, "%d of %d checks fail%s\n", rep.Failed, rep.Passed+rep.Failed, after)
	}
	return nil
}

// printMatrix draws a pingall grid as Mininet's pingall does: ok for a
// reply, X for none.
func printMatrix(w io.Writer, m *topo.PingMatrix) {
	t := newTable(w)
	row(t, append([]any{""}, anys(m.Nodes)...)...)
	for i, from := range m.Nodes {
		cols := []any{from}
		for j := range m.Nodes {
			switch {
			case i == j:
				cols = append(cols, "-")
			case m.Reach[i][j]:
				cols = append(cols, "ok")
			default:
				cols = append(cols, "X")
			}
		}
		row(t, cols...)
	}
	_ = t.Flush()
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = strings.TrimSpace(v)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
