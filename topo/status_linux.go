package topo

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
)

// Status is a lab as the kernel shows it now.
type Status struct {
	Name  string       `json:"name"`
	File  string       `json:"file,omitempty"`
	Phase string       `json:"phase"`
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is one node: its init and its interfaces, read live.
type NodeStatus struct {
	Name   string            `json:"name"`
	Kind   Kind              `json:"kind"`
	PID    int               `json:"pid"`
	Alive  bool              `json:"alive"`
	Ifaces []link.IfaceState `json:"ifaces"`
	// Error says why the interfaces could not be read.
	Error string `json:"error,omitempty"`
}

// LabStatus reads the lab's state and asks the kernel for every node's
// interfaces, addresses and link state.
func LabStatus(ctx context.Context, name string, opt Options) (*Status, error) {
	st, err := ReadState(opt.root(), name)
	if err != nil {
		return nil, err
	}
	s := &Status{Name: st.Lab.Name, File: st.Lab.File, Phase: st.Phase}
	s.Nodes = make([]NodeStatus, len(st.Lab.Nodes))
	u := &upper{opt: opt}
	err = u.parallel(ctx, "status", len(st.Lab.Nodes), func(i int) error {
		n := st.Lab.Nodes[i]
		p := st.Nodes[n.Name]
		ns := NodeStatus{Name: n.Name, Kind: n.Kind, PID: p.PID, Alive: p.Alive(), Ifaces: []link.IfaceState{}}
		if ns.Alive {
			if h, err := link.OpenNS(p.NetNSPath()); err != nil {
				ns.Error = err.Error()
			} else {
				if ns.Ifaces, err = h.Interfaces(); err != nil {
					ns.Error = err.Error()
				}
				h.Close()
			}
		}
		s.Nodes[i] = ns
		return nil
	})
	return s, err
}

// Summary is one line of topo ls.
type Summary struct {
	Name  string `json:"name"`
	File  string `json:"file,omitempty"`
	Phase string `json:"phase"`
	Nodes int    `json:"nodes"`
	Alive int    `json:"alive"`
	Links int    `json:"links"`
}

// List summarises every lab under the state root.
func List(opt Options) ([]Summary, error) {
	names, err := Labs(opt.root())
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	for _, name := range names {
		st, err := ReadState(opt.root(), name)
		if err != nil {
			continue
		}
		s := Summary{Name: name, File: st.Lab.File, Phase: st.Phase, Nodes: len(st.Lab.Nodes), Links: len(st.Lab.Links)}
		for _, p := range st.Nodes {
			if p.Alive() {
				s.Alive++
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Target is a node of a running lab, found by name.
type Target struct {
	State *State
	Node  *Node
	Proc  node.Proc
}

// Sock is the socket of the node's init.
func (t *Target) Sock() string { return node.SockPath(t.State.NodeDir(), t.Node.Name) }

// Log is the node's log file.
func (t *Target) Log() string { return node.LogPath(t.State.NodeDir(), t.Node.Name) }

// FindNode resolves a node argument: "node" when one lab runs (or lab is
// given), else "lab/node".
func FindNode(arg, lab string, opt Options) (*Target, error) {
	name := arg
	if l, n, ok := strings.Cut(arg, "/"); ok {
		if lab != "" && lab != l {
			return nil, fmt.Errorf("node %q names lab %s but --lab says %s", arg, l, lab)
		}
		lab, name = l, n
	}
	if lab == "" {
		labs, err := Labs(opt.root())
		if err != nil {
			return nil, err
		}
		switch len(labs) {
		case 0:
			return nil, fmt.Errorf("no lab is running (topo up FILE.dot starts one)")
		case 1:
			lab = labs[0]
		default:
			return nil, fmt.Errorf("several labs are running (%s): write LAB/%s or --lab LAB", strings.Join(labs, ", "), name)
		}
	}
	st, err := ReadState(opt.root(), lab)
	if err != nil {
		return nil, err
	}
	n := st.Lab.Node(name)
	if n == nil {
		var names []string
		for _, n := range st.Lab.Nodes {
			names = append(names, n.Name)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("lab %s has no node %q (nodes: %s)", lab, name, strings.Join(names, ", "))
	}
	p, ok := st.Nodes[name]
	if !ok || !p.Alive() {
		return nil, fmt.Errorf("node %s of lab %s is not running (topo status %s)", name, lab, lab)
	}
	return &Target{State: st, Node: n, Proc: p}, nil
}

// Exec runs a command in a node and returns its exit status.
func Exec(t *Target, c node.Cmd) (int, error) {
	if c.Dir == "" {
		c.Dir, _ = os.Getwd()
	}
	return node.Run(t.Sock(), c)
}
