package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newStatus() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "status [LAB]",
		Short: "Show a lab's nodes and interfaces as the kernel sees them now",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			name, err := oneLab(args)
			if err != nil {
				return err
			}
			s, err := topo.LabStatus(c.Context(), name, options())
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(s)
			}
			w := newTable(os.Stdout)
			row(w, "NODE", "KIND", "PID", "IFACE", "STATE", "MTU", "ADDRESSES")
			for _, n := range s.Nodes {
				pid := "dead"
				if n.Alive {
					pid = itoa(n.PID)
				}
				if len(n.Ifaces) == 0 {
					row(w, n.Name, n.Kind, pid, "-", "-", "-", n.Error)
				}
				for i, ifc := range n.Ifaces {
					name, kind := n.Name, string(n.Kind)
					if i > 0 {
						name, kind, pid = "", "", ""
					}
					state := "up"
					switch {
					case !ifc.Up:
						state = "down"
					case !ifc.Carrier:
						state = "no-carrier"
					}
					addrs := strings.Join(ifc.Addrs, " ")
					if ifc.Master != "" {
						addrs = "port of " + ifc.Master
					}
					row(w, name, kind, pid, ifc.Name, state, ifc.MTU, addrs)
				}
			}
			return w.Flush()
		},
	}
	outputFlag(c, &out)
	return c
}

// oneLab picks the lab a command is about: the argument, else the only one
// running.
func oneLab(args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	labs, err := topo.Labs(topo.StateRoot())
	if err != nil {
		return "", err
	}
	switch len(labs) {
	case 0:
		return "", errors.New("no lab is running (topo up FILE.dot starts one)")
	case 1:
		return labs[0], nil
	}
	return "", usageError("several labs are running (%s): name one", strings.Join(labs, ", "))
}
