package topo

import (
	"context"
	"errors"
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
	Lab, Node string
	root      string
	proc      node.Proc
}

// Log is the node's log file.
func (t *Target) Log() string { return node.LogPath(nodeDir(t.root, t.Lab), t.Node) }

// Proc is the node's init.
func (t *Target) Proc() node.Proc { return t.proc }

// PickLab resolves the lab a command is about, from an argument that may be
// written LAB/REST and the --lab flag, else the only lab running. It
// returns the lab's name and the rest of the argument.
func PickLab(arg, lab string, opt Options) (string, string, error) {
	rest := arg
	if l, r, ok := strings.Cut(arg, "/"); ok {
		if lab != "" && lab != l {
			return "", "", fmt.Errorf("%q names lab %s but --lab says %s", arg, l, lab)
		}
		lab, rest = l, r
	}
	if lab != "" {
		return lab, rest, nil
	}
	labs, err := Labs(opt.root())
	if err != nil {
		return "", "", err
	}
	switch len(labs) {
	case 0:
		return "", "", fmt.Errorf("no lab is running (topo up FILE.dot starts one)")
	case 1:
		return labs[0], rest, nil
	}
	what := rest
	if what == "" {
		what = "..."
	}
	return "", "", fmt.Errorf("several labs are running (%s): write LAB/%s or --lab LAB", strings.Join(labs, ", "), what)
}

// FindNode resolves a node argument: "node" when one lab runs (or lab is
// given), else "lab/node". It reads no more than it must (exec is a hot
// path): the lab's inits file; the lab's state is read only to explain a
// failure.
func FindNode(arg, lab string, opt Options) (*Target, error) {
	root := opt.root()
	lab, name, err := PickLab(arg, lab, opt)
	if err != nil {
		return nil, err
	}
	if validName(name, maxNameLen) {
		if p, ok := readInit(root, lab, name); ok {
			return &Target{Lab: lab, Node: name, root: root, proc: p}, nil
		}
	}
	st, err := ReadState(root, lab)
	if err != nil {
		return nil, err
	}
	if st.Lab.Node(name) == nil {
		var names []string
		for _, n := range st.Lab.Nodes {
			names = append(names, n.Name)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("lab %s has no node %q (nodes: %s)", lab, name, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("node %s of lab %s is not running (topo status %s)", name, lab, lab)
}

// Exec runs a command in a node and returns its exit status.
func Exec(t *Target, c node.Cmd) (int, error) {
	if c.Dir == "" {
		c.Dir, _ = os.Getwd()
	}
	code, err := node.Run(t.proc, c)
	if err != nil && errors.Is(err, node.ErrNotRunning) {
		return code, fmt.Errorf("node %s of lab %s is not running (topo status %s)", t.Node, t.Lab, t.Lab)
	}
	return code, err
}
