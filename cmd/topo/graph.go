package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/graph"
	"github.com/topo-lab/topo/topo"
)

func newGraph() *cobra.Command {
	var out, layout, lab string
	var stats bool
	c := &cobra.Command{
		Use:   "graph [FILE.dot|LAB] -o OUT",
		Short: "Draw a lab, with a running lab's live state, as SVG, PNG or DOT",
		Long: `Draw a lab: nodes by kind, at each end of a link its interface and
addresses, on the link its impairments and MTU. The user's own label, color,
shape and pos win over topo's look. No Graphviz install is needed.

FILE.dot (a path that exists or ends in .dot; - reads stdin) draws that file.
LAB draws a running lab with its state now: links that are down in red and
dashed, nodes whose init is gone in grey; --stats adds each interface's packet
and byte counters. Without an argument, the only running lab (or --lab). A
file with --lab draws the file with that running lab's state.

OUT ends in .svg, .png or .dot; -o - writes DOT to stdout. The DOT output is
itself a topo lab file: topo graph lab.dot -o - | topo up - brings up the
same lab.

  topo graph examples/chain.dot -o chain.svg
  topo graph chain -o chain.png --stats
  topo graph examples/lan.dot --layout circo -o -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usageError("name the output: -o lab.svg, -o lab.png, -o lab.dot, or -o - for DOT on stdout")
			}
			format, err := graph.FormatOf(out)
			if err != nil {
				return usageError("-o %v", err)
			}
			if err := graph.CheckLayout(layout); err != nil {
				return usageError("--layout: %v", err)
			}
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			ctx := c.Context()
			var l *topo.Lab
			var st *graph.State
			if isLabFile(arg) {
				if l, err = topo.Load(arg, ""); err != nil {
					return err
				}
				if lab != "" {
					if _, st, err = graph.Snapshot(ctx, lab, options()); err != nil {
						return err
					}
				}
			} else {
				name := arg
				switch {
				case name != "" && lab != "" && name != lab:
					return usageError("%s names lab %s but --lab says %s", arg, arg, lab)
				case name == "" && lab != "":
					name = lab
				case name == "":
					if name, err = oneLab(nil); err != nil {
						return err
					}
				}
				l, st, err = graph.Snapshot(ctx, name, options())
				if errors.Is(err, topo.ErrNoLab) && arg != "" {
					return fmt.Errorf("%s is neither a file nor a running lab (topo ls lists the running labs)", arg)
				}
				if err != nil {
					return err
				}
			}
			if stats && st == nil {
				return usageError("--stats shows a running lab's counters: name the lab, or add --lab LAB to the file")
			}
			data, err := graph.Draw(ctx, l, st, graph.Options{Layout: layout, Stats: stats}, format)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = os.Stdout.Write(data)
				return err
			}
			return writeFileAtomic(out, data)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "where to write: FILE.svg, FILE.png, FILE.dot, or - for DOT on stdout")
	c.Flags().StringVar(&layout, "layout", "", "layout engine: "+strings.Join(graph.Layouts, ", ")+" (default: the file's layout attribute, else dot)")
	c.Flags().BoolVar(&stats, "stats", false, "show each interface's packet and byte counters (a running lab)")
	labFlag(c, &lab)
	return c
}

// isLabFile reports whether a graph argument names a file rather than a
// running lab: - (stdin), a name ending in .dot or .gv, or a file that
// exists.
func isLabFile(arg string) bool {
	if arg == "-" || strings.HasSuffix(arg, ".dot") || strings.HasSuffix(arg, ".gv") {
		return true
	}
	if arg == "" {
		return false
	}
	fi, err := os.Stat(arg)
	return err == nil && !fi.IsDir()
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path: a reader never sees half a picture.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
