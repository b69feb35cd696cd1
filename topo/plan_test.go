package topo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// checkInvariants holds for every lab Parse returns.
func checkInvariants(t *testing.T, lab *Lab) {
	t.Helper()
	addrs := map[netip.Addr]string{}
	macs := map[string]string{}
	for _, n := range lab.Nodes {
		if !validName(n.Name, maxNameLen) {
			t.Errorf("node name %q", n.Name)
		}
		names := map[string]bool{}
		for _, i := range n.Ifaces {
			where := n.Name + ":" + i.Name
			if ifaceNameProblem(i.Name) != "" || names[i.Name] {
				t.Errorf("interface %s: bad or duplicate name", where)
			}
			names[i.Name] = true
			if prev, ok := macs[i.MAC]; ok {
				t.Errorf("MAC %s of %s already on %s", i.MAC, where, prev)
			}
			macs[i.MAC] = where
			if n.Kind == KindBridge && len(i.Addrs) > 0 {
				t.Errorf("bridge port %s has addresses %v", where, i.Addrs)
			}
			if n.Kind != KindBridge && lab.Subnet.IsValid() && !hasFamily(i, true) {
				t.Errorf("%s has no IPv4 address", where)
			}
			if n.Kind != KindBridge && lab.Subnet6.IsValid() && !hasFamily(i, false) {
				t.Errorf("%s has no IPv6 address", where)
			}
			for _, a := range i.Addrs {
				if prev, ok := addrs[a.Addr()]; ok {
					t.Errorf("address %s of %s already on %s", a, where, prev)
				}
				addrs[a.Addr()] = where
				if !hostUsable(a.Masked(), a.Addr()) {
					t.Errorf("%s has %s, not a host address", where, a)
				}
			}
		}
	}
	ifaces := map[Endpoint]bool{}
	for _, n := range lab.Nodes {
		for _, i := range n.Ifaces {
			ifaces[Endpoint{n.Name, i.Name}] = true
		}
	}
	for _, l := range lab.Links {
		for _, ep := range []Endpoint{l.A, l.B} {
			if !ifaces[ep] {
				t.Errorf("link %s: no interface %s", l, ep)
			}
		}
	}
}

func hasFamily(i *Iface, v4 bool) bool {
	for _, a := range i.Addrs {
		if a.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// testSegments groups a lab's interfaces into segments independently of
// the planner: union-find over bridges.
func testSegments(lab *Lab) [][]*Iface {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		parent[x] = x
		return x
	}
	nodes := map[string]*Node{}
	ifaces := map[Endpoint]*Iface{}
	for _, n := range lab.Nodes {
		nodes[n.Name] = n
		for _, i := range n.Ifaces {
			ifaces[Endpoint{n.Name, i.Name}] = i
		}
	}
	isBridge := func(n string) bool { return nodes[n].Kind == KindBridge }
	iface := func(ep Endpoint) *Iface { return ifaces[ep] }
	for _, l := range lab.Links {
		if isBridge(l.A.Node) && isBridge(l.B.Node) {
			parent[find(l.A.Node)] = find(l.B.Node)
		}
	}
	var segs [][]*Iface
	lans := map[string]int{}
	for _, l := range lab.Links {
		ab, bb := isBridge(l.A.Node), isBridge(l.B.Node)
		switch {
		case !ab && !bb:
			segs = append(segs, []*Iface{iface(l.A), iface(l.B)})
		case ab && bb:
		default:
			br, ep := l.A.Node, l.B
			if bb {
				br, ep = l.B.Node, l.A
			}
			r := find(br)
			i, ok := lans[r]
			if !ok {
				i = len(segs)
				lans[r] = i
				segs = append(segs, nil)
			}
			segs[i] = append(segs[i], iface(ep))
		}
	}
	return segs
}

// checkSegments: every member of a segment has an address of each family
// in use, all in one prefix per family, and no two segments' prefixes
// overlap. It holds for labs whose explicit addresses give each segment
// one prefix per family.
func checkSegments(t *testing.T, lab *Lab) {
	t.Helper()
	type owner struct {
		p   netip.Prefix
		seg int
	}
	var all []owner
	for si, seg := range testSegments(lab) {
		for _, v4 := range []bool{true, false} {
			var p netip.Prefix
			for _, m := range seg {
				for _, a := range m.Addrs {
					if a.Addr().Is4() != v4 {
						continue
					}
					if !p.IsValid() {
						p = a.Masked()
						all = append(all, owner{p, si})
					} else if a.Masked() != p {
						t.Errorf("segment %d: %s and %s in one segment", si, p, a)
					}
				}
			}
			if !p.IsValid() {
				continue
			}
			for _, m := range seg {
				if !hasFamily(m, v4) {
					t.Errorf("segment %d (%s): an interface %s has none", si, p, m.Name)
				}
			}
		}
	}
	// Sorting would be faster; labs here are small enough.
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].seg != all[j].seg && all[i].p.Overlaps(all[j].p) {
				t.Errorf("segments %d and %d overlap: %s, %s", all[i].seg, all[j].seg, all[i].p, all[j].p)
			}
		}
	}
}

func starDOT(n int) string {
	var b strings.Builder
	b.WriteString("graph star {\n  sw [kind=bridge]\n")
	for i := range n {
		fmt.Fprintf(&b, "  h%d -- sw\n", i)
	}
	b.WriteString("}\n")
	return b.String()
}

func chainDOT(n int) string {
	var b strings.Builder
	b.WriteString("graph chain {\n  node [kind=router]\n  h1 [kind=host]; h2 [kind=host]\n  h1")
	for i := range n {
		fmt.Fprintf(&b, " -- r%d", i)
	}
	b.WriteString(" -- h2\n}\n")
	return b.String()
}

// mixedDOT makes a random lab: groups of bridges joined in a line (one LAN
// each), hosts on them, point-to-point links between routers and hosts,
// some explicit addresses (one prefix per segment), IPv6 sometimes.
func mixedDOT(seed uint64, nodes int) (string, map[Endpoint]string) {
	rng := rand.New(rand.NewPCG(seed, seed))
	explicit := map[Endpoint]string{}
	var b strings.Builder
	fmt.Fprintf(&b, "graph mixed%d {\n", seed)
	v6 := seed%2 == 0
	if v6 {
		b.WriteString("  subnet6=\"fd00::/48\"\n")
	}
	groups := 1 + nodes/50
	ifn := map[string]int{}
	next := func(n string) string {
		s := fmt.Sprintf("eth%d", ifn[n])
		ifn[n]++
		return s
	}
	for g := range groups {
		k := 1 + rng.IntN(3)
		for j := range k {
			fmt.Fprintf(&b, "  b%d_%d [kind=bridge]\n", g, j)
			if j > 0 {
				fmt.Fprintf(&b, "  b%d_%d -- b%d_%d\n", g, j-1, g, j)
				next(fmt.Sprintf("b%d_%d", g, j-1))
				next(fmt.Sprintf("b%d_%d", g, j))
			}
		}
	}
	hostN := 0
	perGroup := map[int]int{}
	p2p := 0
	for i := 0; i < nodes; i++ {
		if rng.IntN(3) == 0 {
			// a point-to-point link between two new hosts or a router
			a, c := fmt.Sprintf("p%d", i), fmt.Sprintf("q%d", i)
			attrs := ""
			if rng.IntN(5) == 0 {
				p2p++
				ip := fmt.Sprintf("172.16.%d.%d/30", p2p/64, 4*(p2p%64)+1)
				attrs = fmt.Sprintf(" [tailip=%q]", ip)
				explicit[Endpoint{a, "eth0"}] = ip
			}
			fmt.Fprintf(&b, "  %s -- %s%s\n", a, c, attrs)
			next(a)
			next(c)
			continue
		}
		g := rng.IntN(groups)
		br := fmt.Sprintf("b%d_0", g)
		h := fmt.Sprintf("h%d", hostN)
		hostN++
		attrs := ""
		if rng.IntN(10) == 0 {
			perGroup[g]++
			ip := fmt.Sprintf("172.17.%d.%d/24", g, 10+perGroup[g])
			if v6 && rng.IntN(2) == 0 {
				ip += fmt.Sprintf(", fd01:%x::%x/64", g+1, 10+i)
			}
			attrs = fmt.Sprintf(" [tailip=%q]", ip)
			explicit[Endpoint{h, "eth0"}] = ip
		}
		fmt.Fprintf(&b, "  %s -- %s%s\n", h, br, attrs)
		next(h)
		next(br)
	}
	b.WriteString("}\n")
	return b.String(), explicit
}

func parseOK(t testing.TB, name, src string) *Lab {
	t.Helper()
	lab, err := Parse(name+".dot", []byte(src), "")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return lab
}

func TestPlanStar(t *testing.T) {
	lab := parseOK(t, "star", starDOT(1000))
	checkInvariants(t, lab)
	checkSegments(t, lab)
	// 1000 hosts do not fit a /24: the LAN gets a /22.
	wantSlice(t, "h0", addrsOf(t, lab, "h0", "eth0"), []string{"10.0.0.1/22"})
	wantSlice(t, "h999", addrsOf(t, lab, "h999", "eth0"), []string{"10.0.3.232/22"})
	wantEqual(t, "bridge ports", len(lab.Node("sw").Ifaces), 1000)
}

func TestPlanChain(t *testing.T) {
	lab := parseOK(t, "chain", chainDOT(50))
	checkInvariants(t, lab)
	checkSegments(t, lab)
	wantSlice(t, "h1", addrsOf(t, lab, "h1", "eth0"), []string{"10.0.0.1/30"})
	wantSlice(t, "r0", addrsOf(t, lab, "r0", "eth0"), []string{"10.0.0.2/30"})
	wantSlice(t, "r0 next", addrsOf(t, lab, "r0", "eth1"), []string{"10.0.0.5/30"})
	wantSlice(t, "h2", addrsOf(t, lab, "h2", "eth0"), []string{"10.0.0.202/30"})
}

func TestPlanMixed(t *testing.T) {
	for seed := range uint64(20) {
		src, explicit := mixedDOT(seed, 20+int(seed)*37)
		lab := parseOK(t, fmt.Sprintf("mixed%d", seed), src)
		checkInvariants(t, lab)
		checkSegments(t, lab)
		for ep, want := range explicit {
			got := lab.Node(ep.Node).Iface(ep.Iface).Addrs
			for k, w := range splitList(want) {
				if k >= len(got) || got[k] != netip.MustParsePrefix(w) {
					t.Errorf("seed %d: %s: explicit %s became %v", seed, ep, want, got)
				}
			}
		}
		// Deterministic: the same text gives the same lab.
		again := parseOK(t, "again", src)
		j1, _ := json.Marshal(lab)
		again.File, again.Name = lab.File, lab.Name
		AssignMACs(again)
		j2, _ := json.Marshal(again)
		if string(j1) != string(j2) {
			t.Errorf("seed %d: two parses differ", seed)
		}
	}
}

// TestPlanRespectsExplicitPrefixes: automatic blocks never overlap the
// prefix of a written address, even when it sits inside the pool.
func TestPlanRespectsExplicitPrefixes(t *testing.T) {
	lab := parseOK(t, "p", `graph p {
		a -- b [tailip="10.0.0.5/24"]
		c -- d
		e -- f [tailip="10.0.1.1/31"]
		sw [kind=bridge]
		g -- sw
	}`)
	checkInvariants(t, lab)
	checkSegments(t, lab)
	wantSlice(t, "b", addrsOf(t, lab, "b", "eth0"), []string{"10.0.0.1/24"})
	wantSlice(t, "c", addrsOf(t, lab, "c", "eth0"), []string{"10.0.1.5/30"})
	wantSlice(t, "f", addrsOf(t, lab, "f", "eth0"), []string{"10.0.1.0/31"})
	wantSlice(t, "g", addrsOf(t, lab, "g", "eth0"), []string{"10.0.2.1/24"})
}

func TestPlanIPv6Large(t *testing.T) {
	lab := parseOK(t, "v6", `graph v6 {
		subnet6="2001:db8::/48"
		subnet=none
		a -- b
		sw [kind=bridge]
		c -- sw; d -- sw
	}`)
	checkInvariants(t, lab)
	checkSegments(t, lab)
	wantSlice(t, "a", addrsOf(t, lab, "a", "eth0"), []string{"2001:db8::1/64"})
	wantSlice(t, "c", addrsOf(t, lab, "c", "eth0"), []string{"2001:db8:0:1::1/64"})
	wantSlice(t, "d", addrsOf(t, lab, "d", "eth0"), []string{"2001:db8:0:1::2/64"})
}

// TestPlanHuge checks that 100000 nodes stay bounded (seconds, not hours).
func TestPlanHuge(t *testing.T) {
	if testing.Short() {
		t.Skip("large lab")
	}
	var b strings.Builder
	b.WriteString("graph huge {\n subnet=\"10.0.0.0/8\"\n")
	for i := range 20000 {
		fmt.Fprintf(&b, " s%d [kind=bridge]\n a%d -- s%d\n b%d -- s%d\n c%d -- d%d\n", i, i, i, i, i, i, i)
	}
	b.WriteString("}\n")
	lab := parseOK(t, "huge", b.String())
	wantEqual(t, "nodes", len(lab.Nodes), 100000)
	checkInvariants(t, lab)
}

func BenchmarkParse1000(b *testing.B) {
	src := []byte(starDOT(1000))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Parse("star.dot", src, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseChain1000(b *testing.B) {
	src := []byte(chainDOT(1000))
	for b.Loop() {
		if _, err := Parse("chain.dot", src, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStar100k(b *testing.B) {
	src := []byte(strings.Replace(starDOT(100000), "graph star {", "graph star { subnet=\"10.0.0.0/8\"", 1))
	for b.Loop() {
		if _, err := Parse("star.dot", src, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlanFailureStopsFollowUps: a pool too small is one problem, not one
// per route that then has no connected gateway.
func TestPlanFailureStopsFollowUps(t *testing.T) {
	_, err := Parse("x.dot", []byte(`graph x {
		subnet="10.0.0.0/30"
		a [routes="default via 10.0.0.6"]
		a -- b
		b -- c
	}`), "")
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(err.Error(), "too small") {
		t.Errorf("err = %v", err)
	}
}
