package link

import (
	"net"
	"sort"

	"github.com/vishvananda/netlink"
)

// IfaceState is an interface as the kernel shows it now.
type IfaceState struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	Kind  string `json:"kind"`
	MAC   string `json:"mac"`
	MTU   int    `json:"mtu"`
	// Up is the administrative state; Carrier whether the peer is there and
	// up too (a veth has carrier only when both ends are up).
	Up      bool   `json:"up"`
	Carrier bool   `json:"carrier"`
	Oper    string `json:"oper"`
	// Master is the bridge this interface is a port of.
	Master string   `json:"master,omitempty"`
	Addrs  []string `json:"addrs"`
	Stats  Stats    `json:"stats"`
}

// Stats are an interface's counters.
type Stats struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// Interfaces lists the namespace's veth and bridge interfaces (not lo, nor
// the fallback tunnels some modules put in every namespace), with their
// global addresses, sorted by index.
func (n *NS) Interfaces() ([]IfaceState, error) {
	links, err := RetryDump(n.h.LinkList)
	if err != nil {
		return nil, err
	}
	addrs, err := RetryDump(func() ([]netlink.Addr, error) { return n.h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	byIdx := map[int][]string{}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() || a.IP.IsLoopback() {
			continue
		}
		byIdx[a.LinkIndex] = append(byIdx[a.LinkIndex], a.IPNet.String())
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []IfaceState
	for _, l := range links {
		t := l.Type()
		if t != "veth" && t != "bridge" {
			continue
		}
		a := l.Attrs()
		s := IfaceState{
			Name: a.Name, Index: a.Index, Kind: t, MAC: a.HardwareAddr.String(), MTU: a.MTU,
			Up:      a.Flags&net.FlagUp != 0,
			Carrier: a.RawFlags&0x10000 != 0, // IFF_LOWER_UP
			Oper:    a.OperState.String(),
			Master:  names[a.MasterIndex],
			Addrs:   byIdx[a.Index],
		}
		if s.Addrs == nil {
			s.Addrs = []string{}
		}
		if st := a.Statistics; st != nil {
			s.Stats = Stats{st.RxPackets, st.TxPackets, st.RxBytes, st.TxBytes, st.RxDropped, st.TxDropped}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// SetUp sets an interface administratively up or down.
func (n *NS) SetUp(name string, up bool) error {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return err
	}
	if up {
		return n.h.LinkSetUp(l)
	}
	return n.h.LinkSetDown(l)
}
