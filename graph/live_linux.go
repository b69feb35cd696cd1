package graph

import (
	"context"

	"github.com/topo-lab/topo/topo"
)

// Snapshot reads a running lab: the topology topo up applied (from the
// lab's state under opt.Root) and its state now, as the kernel shows it
// (topo.LabStatus). It runs in the host's namespaces and changes nothing.
func Snapshot(ctx context.Context, name string, opt topo.Options) (*topo.Lab, *State, error) {
	root := opt.Root
	if root == "" {
		root = topo.StateRoot()
	}
	st, err := topo.ReadState(root, name)
	if err != nil {
		return nil, nil, err
	}
	s, err := topo.LabStatus(ctx, name, opt)
	if err != nil {
		return nil, nil, err
	}
	return st.Lab, FromStatus(s), nil
}

// FromStatus turns a lab's status into the state a picture needs.
func FromStatus(s *topo.Status) *State {
	out := &State{Nodes: make(map[string]NodeState, len(s.Nodes))}
	for _, n := range s.Nodes {
		ns := NodeState{Alive: n.Alive, Error: n.Error}
		if n.Alive && n.Error == "" {
			ns.Ifaces = make(map[string]IfaceState, len(n.Ifaces))
			for _, i := range n.Ifaces {
				ns.Ifaces[i.Name] = IfaceState{
					Up: i.Up, Carrier: i.Carrier,
					Counters: Counters{
						RxPackets: i.Stats.RxPackets, TxPackets: i.Stats.TxPackets,
						RxBytes: i.Stats.RxBytes, TxBytes: i.Stats.TxBytes,
						RxDropped: i.Stats.RxDropped, TxDropped: i.Stats.TxDropped,
					},
				}
			}
		}
		out.Nodes[n.Name] = ns
	}
	return out
}
