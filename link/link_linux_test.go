package link

import (
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/vishvananda/netns"
)

// newNS makes a throwaway network namespace, unnamed, held only by the
// returned NS, and closes it at cleanup (the kernel then frees it).
func newNS(t *testing.T) *NS {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	fd, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		// This thread is in the wrong namespace: let it die with us.
		runtime.LockOSThread()
		t.Fatal(err)
	}
	defer fd.Close()
	n, err := OpenNS("/proc/self/fd/" + strconv.Itoa(int(fd)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestVethBetweenNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	a, b := newNS(t), newNS(t)
	mac, _ := net.ParseMAC("02:00:00:00:00:0a")
	v := Veth{
		A:   End{NS: a, Name: "eth0", MAC: mac, Index: 11, Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/30"), netip.MustParsePrefix("2001:db8::1/64")}},
		B:   End{NS: b, Name: "eth3", Index: 14, Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/30")}},
		MTU: 1400,
	}
	if err := AddVeth(v); err != nil {
		t.Fatal(err)
	}
	ia, err := a.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ia) != 1 || len(ib) != 1 {
		t.Fatalf("interfaces: %+v / %+v", ia, ib)
	}
	x, y := ia[0], ib[0]
	if x.Name != "eth0" || x.Index != 11 || x.MAC != mac.String() || x.MTU != 1400 || !x.Up || !x.Carrier {
		t.Errorf("end A: %+v", x)
	}
	if y.Name != "eth3" || y.Index != 14 || y.MTU != 1400 || !y.Up || !y.Carrier {
		t.Errorf("end B: %+v", y)
	}
	if len(x.Addrs) != 2 || len(y.Addrs) != 1 || y.Addrs[0] != "192.0.2.2/30" {
		t.Errorf("addresses: %v / %v", x.Addrs, y.Addrs)
	}
	// Down and up again: carrier follows the peer.
	if err := a.SetUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	ib, _ = b.Interfaces()
	if ib[0].Carrier {
		t.Error("peer still has carrier with its other end down")
	}
}

func TestBridgePorts(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	sw, h1, h2 := newNS(t), newNS(t), newNS(t)
	br, err := sw.AddBridge("br0", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range []*NS{h1, h2} {
		v := Veth{A: End{NS: sw, Name: "eth" + strconv.Itoa(i), Index: 11 + i, Master: br}, B: End{NS: h, Name: "eth0", Index: 11}}
		if err := AddVeth(v); err != nil {
			t.Fatal(err)
		}
	}
	// A bridge at the peer's end too (bridge to bridge).
	sw2 := newNS(t)
	br2, err := sw2.AddBridge("br0", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddVeth(Veth{A: End{NS: sw, Name: "eth2", Index: 13, Master: br}, B: End{NS: sw2, Name: "eth0", Index: 11, Master: br2}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*NS{sw, sw2} {
		ifs, err := n.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			if i.Kind == "veth" && i.Master != "br0" {
				t.Errorf("port %s not in br0: %+v", i.Name, i)
			}
		}
	}
}

func TestVethKernelChosenIndex(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	a, b := newNS(t), newNS(t)
	v := Veth{
		A: End{NS: a, Name: "x0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.5/30")}},
		B: End{NS: b, Name: "y0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.6/30")}},
	}
	if err := AddVeth(v); err != nil {
		t.Fatal(err)
	}
	ib, _ := b.Interfaces()
	if len(ib) != 1 || !ib[0].Up || len(ib[0].Addrs) != 1 {
		t.Errorf("peer: %+v", ib)
	}
	// Same names again: the kernel refuses, and nothing new is left.
	if err := AddVeth(v); err == nil {
		t.Error("a second veth with the same names was created")
	}
	ia, _ := a.Interfaces()
	if len(ia) != 1 {
		t.Errorf("after a failed add: %+v", ia)
	}
}
