// Package link builds a lab's wiring inside node network namespaces: veth
// pairs whose ends are created directly in the two nodes' namespaces,
// bridges, addresses and routes, and reads their live state back. Everything
// goes through netlink sockets bound to the node namespaces; nothing is ever
// created in the host's network namespace and no thread switches namespaces
// except to open those sockets.
package link

import (
	"net"
	"net/netip"
)

// End is one end of a veth pair.
type End struct {
	NS   *NS
	Name string
	MAC  net.HardwareAddr
	// Index is the interface index to ask the kernel for (0: any). topo
	// picks them so that addresses and routes need no lookups.
	Index int
	// Master is the index of the bridge this end is a port of (0: none).
	Master int
	Addrs  []netip.Prefix
}

// Veth is a veth pair to create.
type Veth struct {
	A, B End
	MTU  int
	// Down leaves both ends administratively down.
	Down bool
}

// Route is a static route in a node.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
	// DevIndex is the outgoing interface (0: the kernel chooses by Via).
	DevIndex int
	Metric   int
}
