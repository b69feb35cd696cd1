// Package topo holds the lab model: it parses a Graphviz DOT file into a raw
// form, resolves that into a validated, typed topology, plans addresses, and
// drives the lifecycle of a running lab (up, down, status) on top of the
// node and link packages.
//
// The model, the parser, the validator and the planner are pure: they touch
// no kernel object and are tested without root.
package topo

import (
	"net/netip"
	"time"
)

// Kind is what a node is.
type Kind string

// Node kinds. KindSwitch is accepted in files as a synonym of KindBridge and
// is normalised to KindBridge by the parser.
const (
	KindHost   Kind = "host"
	KindRouter Kind = "router"
	KindBridge Kind = "bridge"
)

// Lab is a validated topology: every name is legal, every address is
// assigned and unique, every interface belongs to exactly one link.
type Lab struct {
	// Name is the lab's name: the graph ID, else the file name without .dot.
	Name string `json:"name"`
	// File is the absolute path of the DOT file ("" when read from stdin).
	File string `json:"file,omitempty"`
	// Dir is the folder that relative mount sources are resolved against.
	Dir string `json:"dir,omitempty"`
	// Subnet and Subnet6 are the pools automatic addresses came from.
	// Subnet6 is invalid (zero) when the file does not set it.
	Subnet  netip.Prefix `json:"subnet"`
	Subnet6 netip.Prefix `json:"subnet6,omitzero"`
	// Nodes in the order the file first mentions them.
	Nodes []*Node `json:"nodes"`
	// Links in the order the file declares them.
	Links []*Link `json:"links"`
	// Attrs are the graph attributes as written (unquoted), kept for drawing.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Node is one namespaced machine of a lab.
type Node struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Exec lines run with /bin/sh -c inside the node, in order, once every
	// link of the lab is up.
	Exec   []string `json:"exec,omitempty"`
	Routes []Route  `json:"routes,omitempty"`
	Mounts []Mount  `json:"mounts,omitempty"`
	// Image is an absolute path to a root filesystem folder or tarball.
	Image  string `json:"image,omitempty"`
	UserNS bool   `json:"userns,omitempty"`
	// ClockOffset moves the node's monotonic and boot-time clocks forward.
	ClockOffset time.Duration `json:"clockoffset,omitempty"`
	// Env holds KEY=VALUE pairs for exec lines and topo exec.
	Env     []string `json:"env,omitempty"`
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Ifaces in the order the file declares the node's links.
	Ifaces []*Iface `json:"ifaces"`
	// Attrs are the node's DOT attributes as written (unquoted), defaults
	// applied, kept for drawing.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Iface is one end of a link, inside a node.
type Iface struct {
	Name string `json:"name"`
	// MAC is deterministic: derived from the lab, node and interface names.
	MAC   string         `json:"mac"`
	Addrs []netip.Prefix `json:"addrs,omitempty"`
}

// Endpoint names one end of a link.
type Endpoint struct {
	Node  string `json:"node"`
	Iface string `json:"iface"`
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// Link is a veth pair between two nodes. A is the tail of the DOT edge, B the
// head.
type Link struct {
	A Endpoint `json:"a"`
	B Endpoint `json:"b"`
	// MTU of both ends; 0 keeps the kernel's default.
	MTU int `json:"mtu,omitempty"`
	Impair
	// Down creates the link administratively down.
	Down bool `json:"down,omitempty"`
	// Line is the line of the DOT file that declares the edge (0 if unknown).
	Line int `json:"line,omitempty"`
	// Attrs are the edge's DOT attributes as written, kept for drawing.
	Attrs map[string]string `json:"attrs,omitempty"`
}

func (l *Link) String() string { return l.A.Node + ":" + l.A.Iface + "--" + l.B.Node + ":" + l.B.Iface }

// Impair is what a link does to the packets it carries, in each direction.
// The zero value is a perfect link.
type Impair struct {
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss is a percentage, 0 to 100.
	Loss float64 `json:"loss,omitempty"`
	// Rate is in bits per second; 0 is unlimited.
	Rate uint64 `json:"rate,omitempty"`
	// Duplicate, Corrupt and Reorder are percentages, 0 to 100, like
	// Loss. Reorder sends that share of packets without the delay, so it
	// needs a Delay.
	Duplicate float64 `json:"duplicate,omitempty"`
	Corrupt   float64 `json:"corrupt,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
	// Limit is the queue length in full-size packets: the rate shaper's
	// queue when Rate is set, else netem's; 0 picks a default.
	Limit int `json:"limit,omitempty"`
}

// NeedsNetem reports whether the impairment needs the sch_netem qdisc.
func (i Impair) NeedsNetem() bool {
	return i.Delay > 0 || i.Jitter > 0 || i.Loss > 0 || i.Duplicate > 0 || i.Corrupt > 0 || i.Reorder > 0
}

// IsZero reports whether the link is unimpaired.
func (i Impair) IsZero() bool { return i == Impair{} }

// Route is one static route of a node. A zero Dst with Default set is the
// default route of Dst's family.
type Route struct {
	// Dst is the destination prefix; for "default" it is 0.0.0.0/0 or ::/0.
	Dst netip.Prefix `json:"dst"`
	// Via is the gateway; invalid (zero) for a device route.
	Via netip.Addr `json:"via,omitzero"`
	// Dev is the outgoing interface; "" lets the kernel choose by Via.
	Dev    string `json:"dev,omitempty"`
	Metric int    `json:"metric,omitempty"`
	// Text is the route as the file wrote it, for messages.
	Text string `json:"text"`
}

// Mount is a bind mount of a host path into a node.
type Mount struct {
	// Src is absolute (resolved against the lab folder).
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	ReadOnly bool   `json:"ro,omitempty"`
}

// Sysctl is one kernel parameter set inside a node, key in dotted form
// ("net.ipv4.ip_forward").
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Node returns the node called name, or nil.
func (l *Lab) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Iface returns the node's interface called name, or nil.
func (n *Node) Iface(name string) *Iface {
	for _, i := range n.Ifaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// UsesIPv6 reports whether any interface of the lab has an IPv6 address or
// any route is IPv6: a lab that uses none turns IPv6 off in every node, so
// that link-local chatter does not flood large bridges.
func (l *Lab) UsesIPv6() bool {
	if l.Subnet6.IsValid() {
		return true
	}
	for _, n := range l.Nodes {
		for _, i := range n.Ifaces {
			for _, a := range i.Addrs {
				if a.Addr().Is6() {
					return true
				}
			}
		}
		for _, r := range n.Routes {
			if r.Dst.Addr().Is6() {
				return true
			}
		}
	}
	return false
}
