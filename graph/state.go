package graph

// State is what a running lab looks like now, as far as a picture needs:
// which nodes live, which interfaces are up, and their counters. It is
// plain data, so that pictures of any state can be drawn and tested without
// a kernel; Snapshot fills it from a running lab.
type State struct {
	// Nodes by name. A node of the lab missing here is drawn as if its
	// state were unknown.
	Nodes map[string]NodeState `json:"nodes"`
}

// NodeState is one node of a running lab.
type NodeState struct {
	// Alive is false when the node's init is gone: the node is drawn grey
	// and every link of it down.
	Alive bool `json:"alive"`
	// Ifaces holds the node's interfaces by name. It is nil when they
	// could not be read (see Error): then the node's links are drawn as the
	// other end shows them. When it is not nil, an interface of the lab that
	// is missing from it is gone, and its link is down.
	Ifaces map[string]IfaceState `json:"ifaces"`
	// Error says why the interfaces could not be read.
	Error string `json:"error,omitempty"`
}

// IfaceState is one interface as the kernel shows it now.
type IfaceState struct {
	// Up is the administrative state; Carrier is whether the link works
	// (a veth has carrier only when both ends are up).
	Up      bool `json:"up"`
	Carrier bool `json:"carrier"`
	Counters
}

// Counters are an interface's packet and byte counters.
type Counters struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// endState is what the picture knows about one end of a link.
type endState uint8

const (
	endUnknown   endState = iota // no live state, or it could not be read
	endUp                        // up with carrier
	endNoCarrier                 // up, but the peer is down or gone
	endAdminDown                 // set down
	endMissing                   // the node's namespace has no such interface
	endDeadNode                  // the node's init is gone
)

// end looks up one end of a link in the state.
func (s *State) end(node, iface string) (endState, *IfaceState) {
	if s == nil {
		return endUnknown, nil
	}
	n, ok := s.Nodes[node]
	switch {
	case !ok:
		return endUnknown, nil
	case !n.Alive:
		return endDeadNode, nil
	case n.Ifaces == nil:
		return endUnknown, nil
	}
	i, ok := n.Ifaces[iface]
	switch {
	case !ok:
		return endMissing, nil
	case !i.Up:
		return endAdminDown, &i
	case !i.Carrier:
		return endNoCarrier, &i
	}
	return endUp, &i
}

// dead reports whether the state knows the node's init is gone.
func (s *State) dead(node string) bool {
	if s == nil {
		return false
	}
	n, ok := s.Nodes[node]
	return ok && !n.Alive
}
