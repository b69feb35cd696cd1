package main

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

func newCp() *cobra.Command {
	var lab string
	c := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files and folders into or out of a node",
		Long: `Copy between the host and a node's own view of its files (its private /tmp,
its image root). One side is NODE:PATH (or LAB/NODE:PATH), with an absolute
PATH. Folders are copied whole; modes and times are kept. As with cp -r, a
DST that is an existing folder receives SRC under its own name.

  topo cp ./frr.conf r1:/etc/frr/frr.conf
  topo cp h1:/tmp/capture.pcap .`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			srcNode, srcPath, srcIn := splitNodePath(args[0])
			dstNode, dstPath, dstIn := splitNodePath(args[1])
			switch {
			case srcIn == dstIn:
				return usageError("cp: exactly one of SRC and DST is NODE:PATH")
			case srcIn:
				t, err := topo.FindNode(srcNode, lab, options())
				if err != nil {
					return err
				}
				return node.CopyOut(t.Proc(), srcPath, dstPath)
			default:
				t, err := topo.FindNode(dstNode, lab, options())
				if err != nil {
					return err
				}
				return node.CopyIn(t.Proc(), srcPath, dstPath)
			}
		},
	}
	labFlag(c, &lab)
	return c
}

// nodeRef is NODE or LAB/NODE.
var nodeRef = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)?$`)

// splitNodePath splits NODE:PATH. Anything else is a host path, and so is
// a path that starts with / or . even when it holds a ':'.
func splitNodePath(s string) (nodeName, path string, ok bool) {
	n, p, found := strings.Cut(s, ":")
	if !found || !nodeRef.MatchString(n) {
		return "", s, false
	}
	return n, p, true
}
