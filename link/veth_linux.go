package link

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// AddVeth creates a veth pair with end A in A's namespace and end B directly
// in B's, both up unless v.Down, each a bridge port if it has a Master, then
// adds their addresses. It is one RTM_NEWLINK request sent in A's namespace
// (the peer's namespace, MAC, MTU and flags travel inside it), so neither end
// ever exists in the host namespace. On error nothing is left: the pair is
// deleted again.
func AddVeth(v Veth) error {
	req := v.A.NS.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(v.A.Index)
	if !v.Down {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	addEndAttrs(req.AddData, v.A, v.MTU)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be created up: the kernel opens it before the two
	// ends know each other (veth_open says ENOTCONN). It goes up below.
	pmsg := nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	pmsg.Index = int32(v.B.Index)
	addEndAttrs(func(d nl.NetlinkRequestData) { peer.AddChild(d) }, v.B, v.MTU)
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(v.B.NS.fd)))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("create veth %s -- %s: %w", v.A.Name, v.B.Name, err)
	}
	// The kernel applies a master only to the end the request created
	// itself; a bridge at the peer's end takes its port now.
	err := func() error {
		// Ends created without a chosen index are looked up once.
		for _, e := range []*End{&v.A, &v.B} {
			if e.Index == 0 {
				l, err := e.NS.h.LinkByName(e.Name)
				if err != nil {
					return err
				}
				e.Index = l.Attrs().Index
			}
		}
		peer := byIndex(v.B.Index, v.B.Name)
		if v.B.Master != 0 {
			if err := v.B.NS.h.LinkSetMasterByIndex(peer, v.B.Master); err != nil {
				return fmt.Errorf("attach %s to its bridge: %w", v.B.Name, err)
			}
		}
		if !v.Down {
			if err := v.B.NS.h.LinkSetUp(peer); err != nil {
				return fmt.Errorf("set %s up: %w", v.B.Name, err)
			}
		}
		for _, e := range []End{v.A, v.B} {
			if err := e.NS.AddAddrs(e.Index, e.Addrs); err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
		}
		return nil
	}()
	if err != nil {
		_ = v.A.NS.h.LinkDel(byIndex(v.A.Index, v.A.Name))
		return err
	}
	return nil
}

func addEndAttrs(add func(nl.NetlinkRequestData), e End, mtu int) {
	add(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(e.Name)))
	if len(e.MAC) > 0 {
		add(nl.NewRtAttr(unix.IFLA_ADDRESS, []byte(e.MAC)))
	}
	if mtu > 0 {
		add(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	}
	if e.Master != 0 {
		add(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(e.Master))))
	}
}

// byIndex names an existing interface for netlink calls that take a Link.
// A zero index makes netlink look the name up.
func byIndex(index int, name string) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index, Name: name}}
}

// nlAddr is an interface address for netlink. IPv6 addresses skip
// duplicate address detection: a lab's addresses are unique by
// construction and should be usable at once.
func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// nlRoute is a static route for netlink.
func nlRoute(r Route) *netlink.Route {
	rt := &netlink.Route{
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		LinkIndex: r.DevIndex,
		Priority:  r.Metric,
	}
	if r.Via.IsValid() {
		rt.Gw = r.Via.AsSlice()
	}
	return rt
}

// AddAddrs adds addresses to the interface with the given index. IPv6
// addresses skip duplicate address detection: a lab's addresses are unique
// by construction and should be usable at once.
func (n *NS) AddAddrs(index int, addrs []netip.Prefix) error {
	for _, p := range addrs {
		if err := n.h.AddrAdd(byIndex(index, ""), nlAddr(p)); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	return nil
}

// AddBridge creates a Linux bridge, up, with the given index (0: any) and
// returns its index. STP stays off (the kernel's default), so ports forward
// as soon as they are up.
func (n *NS) AddBridge(name string, index, mtu int) (int, error) {
	// No multicast snooping: a lab's bridge forwards multicast like a
	// plain switch, so routing protocols and neighbour discovery never
	// depend on whether a membership report got through.
	snoop := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index, MTU: mtu, Flags: net.FlagUp}, MulticastSnooping: &snoop}
	if err := n.h.LinkAdd(br); err != nil {
		return 0, fmt.Errorf("create bridge %s: %w", name, err)
	}
	return br.Index, nil
}

// AddRoute adds a static route.
func (n *NS) AddRoute(r Route) error {
	return n.h.RouteAdd(nlRoute(r))
}
