package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/capture"
	"github.com/topo-lab/topo/topo"
)

func newCapture() *cobra.Command {
	var lab, file string
	var count, snaplen int
	var duration time.Duration
	var all bool
	c := &cobra.Command{
		Use:   "capture NODE[:IFACE] | LINK | --all [FILTER...]",
		Short: "Capture packets in a running lab, like tcpdump: live, or to pcap/pcapng",
		Long: `Capture packets from inside nodes' network namespaces. NODE captures every
interface of the node, NODE:IFACE one, a LINK (NODE:IFACE--NODE:IFACE, or
NODE--NODE when one link joins them) both its ends, and --all every interface
of the lab. Prefix with LAB/ (or give --lab) when several labs run.

FILTER is a tcpdump expression (pcap-filter(7)): icmp, tcp port 179,
host 10.0.0.1 and not arp... It runs in the kernel; one that cannot be
compiled is an error, never an unfiltered capture.

Without -w, one line per packet is printed. -w FILE.pcap writes pcap (one
interface only), -w FILE.pcapng (or any other name) pcapng with one interface
named NODE:IFACE per interface, packets in time order; -w - streams pcapng to
stdout:

  topo capture r1:eth0 icmp
  topo capture h1--r1 -w - | wireshark -k -i -
  topo capture --all -c 1000 -w lab.pcapng 'not arp'

It stops after -c packets, after --duration, or at Ctrl-C; the file is
complete either way. Packets captured and dropped by the kernel go to stderr.`,
		Args: func(c *cobra.Command, args []string) error {
			if !all && len(args) == 0 {
				return usageError("capture: name a NODE, NODE:IFACE or LINK, or give --all")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			target := ""
			if !all {
				target, args = args[0], args[1:]
			}
			opt := capture.Options{Filter: strings.Join(args, " "), Count: count, Duration: duration, Snaplen: snaplen}
			if count < 0 || duration < 0 || snaplen < 0 {
				return usageError("capture: -c, --duration and -s must not be negative")
			}
			srcs, err := captureSources(target, lab, all)
			if err != nil {
				return err
			}
			var w io.Writer = os.Stdout
			switch {
			case file == "":
				opt.Format = capture.Text
			case file == "-":
				if isTerminal(os.Stdout) {
					return usageError("capture: -w - writes pcapng: send it to a file or a pipe, not a terminal")
				}
				opt.Format = capture.PCAPNG
			case strings.EqualFold(filepath.Ext(file), ".pcap"):
				if len(srcs) > 1 {
					return usageError("capture: %d interfaces need a .pcapng file (a pcap file holds one)", len(srcs))
				}
				opt.Format = capture.PCAP
			default:
				opt.Format = capture.PCAPNG
			}
			return runCapture(c.Context(), srcs, opt, file, w)
		},
	}
	c.Flags().StringVarP(&file, "write", "w", "", "write packets to `FILE` (.pcap or .pcapng; - for pcapng on stdout)")
	c.Flags().IntVarP(&count, "count", "c", 0, "stop after `N` packets")
	c.Flags().DurationVar(&duration, "duration", 0, "stop after this long (30s, 5m)")
	c.Flags().IntVarP(&snaplen, "snaplen", "s", 0, "keep at most `N` bytes of each packet (default 262144)")
	c.Flags().BoolVar(&all, "all", false, "capture every interface of the lab")
	labFlag(c, &lab)
	return c
}

// runCapture opens the output, captures until a stop (Ctrl-C included) and reports the
// counts on stderr as tcpdump does.
func runCapture(ctx context.Context, srcs []capture.Source, opt capture.Options, file string, w io.Writer) error {
	if file != "" && file != "-" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	// A reader that goes away (| head, a closed Wireshark) ends the capture like Ctrl-C
	// rather than killing topo before it reports.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.Name
	}
	opt.Ready = func() {
		fmt.Fprintf(os.Stderr, "topo: capturing on %s (%s); Ctrl-C stops\n", strings.Join(names, ", "), opt.Format)
	}
	st, err := capture.Run(ctx, srcs, opt, w)
	var fe *capture.FilterError
	if errors.As(err, &fe) {
		return usageError("capture: %v", err)
	}
	if errors.Is(err, syscall.EPIPE) {
		err = nil
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout && err == nil {
		err = f.Close()
	}
	fmt.Fprintf(os.Stderr, "%d packets captured\n%d packets received by filter\n%d packets dropped by kernel\n",
		st.Captured, st.Received, st.Dropped)
	return err
}

// captureSources resolves what to capture in a running lab to one source per interface,
// named NODE:IFACE, in the namespace of the node's init.
func captureSources(target, lab string, all bool) ([]capture.Source, error) {
	lab, target, err := topo.PickLab(target, lab, options())
	if err != nil {
		return nil, err
	}
	root := options().Root
	if root == "" {
		root = topo.StateRoot()
	}
	st, err := topo.ReadState(root, lab)
	if err != nil {
		return nil, err
	}
	eps, err := captureEnds(st.Lab, target, all)
	if err != nil {
		return nil, err
	}
	srcs := make([]capture.Source, 0, len(eps))
	for _, ep := range eps {
		p, ok := st.Nodes[ep.Node]
		if !ok || !p.Alive() {
			return nil, fmt.Errorf("node %s of lab %s is not running (topo status %s)", ep.Node, lab, lab)
		}
		srcs = append(srcs, capture.Source{Name: ep.String(), NetNS: p.NetNSPath(), Iface: ep.Iface})
	}
	return srcs, nil
}

// captureEnds lists the interfaces target names: every one of the lab (all), of a node
// ("n"), one ("n:eth0"), or both ends of a link ("a:eth0--b:eth1", "a--b").
func captureEnds(lab *topo.Lab, target string, all bool) ([]topo.Endpoint, error) {
	ifacesOf := func(n *topo.Node) []topo.Endpoint {
		var eps []topo.Endpoint
		for _, ifc := range n.Ifaces {
			eps = append(eps, topo.Endpoint{Node: n.Name, Iface: ifc.Name})
		}
		return eps
	}
	if all {
		if target != "" {
			return nil, usageError("capture: --all captures the whole lab: give no NODE or LINK (FILTER words follow --all)")
		}
		var eps []topo.Endpoint
		for _, n := range lab.Nodes {
			eps = append(eps, ifacesOf(n)...)
		}
		if len(eps) == 0 {
			return nil, fmt.Errorf("lab %s has no interfaces", lab.Name)
		}
		return eps, nil
	}
	parse := func(s string) (*topo.Node, topo.Endpoint, error) {
		name, iface, _ := strings.Cut(strings.TrimSpace(s), ":")
		n := lab.Node(name)
		if n == nil {
			var names []string
			for _, x := range lab.Nodes {
				names = append(names, x.Name)
			}
			sort.Strings(names)
			return nil, topo.Endpoint{}, fmt.Errorf("lab %s has no node %q (nodes: %s)", lab.Name, name, strings.Join(names, ", "))
		}
		ep := topo.Endpoint{Node: name, Iface: iface}
		if iface != "" {
			found := false
			for _, e := range ifacesOf(n) {
				found = found || e == ep
			}
			if !found {
				return nil, topo.Endpoint{}, fmt.Errorf("node %s has no interface %s (interfaces: %s)", name, iface, endNames(ifacesOf(n)))
			}
		}
		return n, ep, nil
	}
	as, bs, isLink := strings.Cut(target, "--")
	an, a, err := parse(as)
	if err != nil {
		return nil, err
	}
	if !isLink {
		if a.Iface != "" {
			return []topo.Endpoint{a}, nil
		}
		eps := ifacesOf(an)
		if len(eps) == 0 {
			return nil, fmt.Errorf("node %s has no interfaces", a.Node)
		}
		return eps, nil
	}
	_, b, err := parse(bs)
	if err != nil {
		return nil, err
	}
	match := func(want, e topo.Endpoint) bool {
		return want.Node == e.Node && (want.Iface == "" || want.Iface == e.Iface)
	}
	var found [][]topo.Endpoint
	var names []string
	for _, l := range lab.Links {
		switch {
		case match(a, l.A) && match(b, l.B):
			found = append(found, []topo.Endpoint{l.A, l.B})
		case match(a, l.B) && match(b, l.A):
			found = append(found, []topo.Endpoint{l.B, l.A})
		default:
			continue
		}
		names = append(names, l.A.String()+"--"+l.B.String())
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("lab %s has no link %s", lab.Name, target)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("link %s is ambiguous: %s: name the interfaces", target, strings.Join(names, " or "))
}

func endNames(eps []topo.Endpoint) string {
	var s []string
	for _, e := range eps {
		s = append(s, e.Iface)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
