package topo

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// Address planning.
//
// A segment is a set of interfaces that share one subnet: the two ends of a
// point-to-point link (neither end a bridge), or a bridge LAN: every
// non-bridge interface attached to a group of bridges joined by
// bridge--bridge links. For each IP version, every member of a segment that
// has no address of that version gets one:
//
//   - If a member has an explicit address of that version, the others get
//     free host addresses from that prefix (the first such address in link
//     order), with its prefix length. This holds for IPv6 even without
//     subnet6: writing one end's IPv6 address asks for IPv6 on the link.
//   - Otherwise the segment gets a fresh block from the lab's pool (subnet,
//     or subnet6 when set): IPv4 /30 per point-to-point link and /24 per LAN
//     (shorter when the LAN has more than 254 hosts). IPv6 /64 per segment
//     when subnet6 is /56 or shorter (256 segments or more, and /64 is what
//     SLAAC and most tools expect); with a smaller pool, /126 per
//     point-to-point link (mirroring IPv4's /30) and /120 per LAN (shorter
//     when the LAN has more than 255 hosts). Blocks never overlap the prefix
//     of any explicit address in the lab, so explicit and automatic subnets
//     never shadow each other in routing tables.
//
// Blocks come from a buddy allocator that hands out the free block with
// the lowest address, splitting a larger one as needed, so point-to-point
// /30s pack together from the start of the pool while LANs stay aligned. Hosts are
// numbered from the block's first address after the network address, in
// link order: tail, then head. Everything is deterministic: the same file
// gives the same addresses.

// segment is a set of interfaces sharing one subnet.
type segment struct {
	members []*Iface
	eps     []Endpoint
	lan     bool
	where   string
	line    int
}

// segments groups the interfaces of a lab, in the order of their first
// link.
func segments(ends []*linkEnds) []*segment {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, le := range ends {
		if le.an.Kind == KindBridge {
			if _, ok := parent[le.an.Name]; !ok {
				parent[le.an.Name] = le.an.Name
			}
		}
		if le.bn.Kind == KindBridge {
			if _, ok := parent[le.bn.Name]; !ok {
				parent[le.bn.Name] = le.bn.Name
			}
		}
		if le.an.Kind == KindBridge && le.bn.Kind == KindBridge {
			ra, rb := find(le.an.Name), find(le.bn.Name)
			if ra != rb {
				// Union to the lexically smaller root: any fixed rule
				// keeps the result deterministic.
				if rb < ra {
					ra, rb = rb, ra
				}
				parent[rb] = ra
			}
		}
	}
	var out []*segment
	lans := map[string]*segment{}
	for _, le := range ends {
		ab, bb := le.an.Kind == KindBridge, le.bn.Kind == KindBridge
		switch {
		case !ab && !bb:
			out = append(out, &segment{
				members: []*Iface{le.a, le.b},
				eps:     []Endpoint{le.link.A, le.link.B},
				where:   le.where,
				line:    le.link.Line,
			})
		case ab && bb:
		default:
			br, ifc, ep := le.an, le.b, le.link.B
			if bb {
				br, ifc, ep = le.bn, le.a, le.link.A
			}
			root := find(br.Name)
			s := lans[root]
			if s == nil {
				s = &segment{lan: true, where: fmt.Sprintf("LAN of bridge %q", br.Name), line: le.link.Line}
				lans[root] = s
				out = append(out, s)
			}
			s.members = append(s.members, ifc)
			s.eps = append(s.eps, ep)
		}
	}
	return out
}

// planAddresses assigns automatic addresses as described above; ends are
// the lab's links with their interfaces, all resolved.
// line is where messages about the pool point: the subnet or subnet6
// attribute. It reports whether every address could be given.
func planAddresses(lab *Lab, ends []*linkEnds, p *problems, line func(v4 bool) int) bool {
	segs := segments(ends)
	// Explicit addresses, taken before anything is assigned.
	used := map[netip.Addr]bool{}
	var reserved []netip.Prefix
	for _, n := range lab.Nodes {
		for _, ifc := range n.Ifaces {
			for _, a := range ifc.Addrs {
				used[a.Addr()] = true
				reserved = append(reserved, a.Masked())
			}
		}
	}
	slices.SortFunc(reserved, comparePrefix)
	reserved = slices.Compact(reserved)
	f := &filler{used: used, cursor: map[netip.Prefix]netip.Addr{}}
	ok4 := planFamily(segs, true, lab.Subnet, reserved, f, p, line(true))
	ok6 := planFamily(segs, false, lab.Subnet6, reserved, f, p, line(false))
	return ok4 && ok6
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

type blockReq struct {
	seg  *segment
	bits int
}

func planFamily(segs []*segment, v4 bool, pool netip.Prefix, reserved []netip.Prefix, f *filler, p *problems, line int) bool {
	has := func(ifc *Iface) (netip.Prefix, bool) {
		for _, a := range ifc.Addrs {
			if a.Addr().Is4() == v4 {
				return a, true
			}
		}
		return netip.Prefix{}, false
	}
	var reqs []blockReq
	ok := true
	for _, s := range segs {
		var explicit netip.Prefix
		need := 0
		for _, m := range s.members {
			if a, ok := has(m); ok {
				if !explicit.IsValid() {
					explicit = a.Masked()
				}
			} else {
				need++
			}
		}
		switch {
		case need == 0:
		case explicit.IsValid():
			for i, m := range s.members {
				if _, ok := has(m); ok {
					continue
				}
				a, free := f.next(explicit)
				if !free {
					p.add(s.line, s.where, "%s has no free address left for %s (%d interfaces need one): use a shorter prefix, e.g. /%d",
						explicit, s.eps[i], len(s.members), fitBits(v4, explicit.Addr().BitLen(), len(s.members)))
					ok = false
					break
				}
				m.Addrs = append(m.Addrs, netip.PrefixFrom(a, explicit.Bits()))
			}
		case pool.IsValid():
			reqs = append(reqs, blockReq{s, blockBits(v4, pool, s.lan, len(s.members))})
		}
	}
	if len(reqs) == 0 {
		return ok
	}
	bits := make([]int, len(reqs))
	for i, r := range reqs {
		bits[i] = r.bits
	}
	blocks, fits := allocate(pool, reserved, bits)
	if !fits {
		p.add(line, "graph", "%s", exhausted(v4, pool, reserved, bits))
		return false
	}
	for i, r := range reqs {
		base := blocks[i].Masked().Addr()
		for k, m := range r.seg.members {
			m.Addrs = append(m.Addrs, netip.PrefixFrom(addrAdd(base, uint64(k+1)), r.bits))
		}
	}
	return ok
}

// blockBits is the prefix length of a fresh block for a segment of n
// interfaces.
func blockBits(v4 bool, pool netip.Prefix, lan bool, n int) int {
	if v4 {
		if !lan {
			return 30
		}
		return min(24, fitBits(true, 32, n))
	}
	if pool.Bits() <= 56 {
		return 64
	}
	if !lan {
		return 126
	}
	return min(120, fitBits(false, 128, n))
}

// fitBits is the longest prefix that holds n host addresses (IPv4 loses
// the network and broadcast addresses, IPv6 the subnet-router anycast).
func fitBits(v4 bool, width, n int) int {
	lost := 1
	if v4 {
		lost = 2
	}
	for b := width - 1; b > 0; b-- {
		if h := width - b; h < 62 && 1<<h-lost >= n {
			return b
		}
	}
	return 1
}

// exhausted explains that the pool is too small and suggests one that fits.
func exhausted(v4 bool, pool netip.Prefix, reserved []netip.Prefix, bits []int) string {
	key := "subnet"
	if !v4 {
		key = "subnet6"
	}
	counts := map[int]int{}
	for _, b := range bits {
		counts[b]++
	}
	sizes := make([]int, 0, len(counts))
	for b := range counts {
		sizes = append(sizes, b)
	}
	slices.Sort(sizes)
	var parts []string
	for _, b := range slices.Backward(sizes) {
		parts = append(parts, fmt.Sprintf("%d /%d", counts[b], b))
	}
	var blocked []string
	for _, r := range reserved {
		if r.Overlaps(pool) {
			blocked = append(blocked, r.String())
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s is too small for this lab: it needs %s blocks", key, pool, strings.Join(parts, " and "))
	if len(blocked) > 0 {
		fmt.Fprintf(&b, ", and explicit addresses take %s", strings.Join(shortList(blocked, 3), ", "))
	}
	// The smallest pool with the same start that fits, checked by running
	// the allocator on it.
	width := pool.Addr().BitLen()
	total := new(big.Int)
	for _, x := range bits {
		total.Add(total, new(big.Int).Lsh(big.NewInt(1), uint(width-x)))
	}
	start := min(pool.Bits()-1, width-total.BitLen()+1)
	for nb := start; nb >= 0; nb-- {
		cand := netip.PrefixFrom(pool.Addr(), nb).Masked()
		if _, ok := allocate(cand, reserved, bits); ok {
			fmt.Fprintf(&b, ": use %s=\"%s\" or a shorter prefix", key, cand)
			return b.String()
		}
	}
	return b.String()
}

func shortList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("%d more", len(s)-n))
}

// filler hands out free host addresses inside explicit prefixes.
type filler struct {
	used   map[netip.Addr]bool
	cursor map[netip.Prefix]netip.Addr
}

func (f *filler) next(p netip.Prefix) (netip.Addr, bool) {
	c, ok := f.cursor[p]
	if !ok {
		c = p.Addr()
	}
	for p.Contains(c) {
		a := c
		c = c.Next()
		if hostUsable(p, a) && !f.used[a] {
			f.used[a] = true
			f.cursor[p] = c
			return a, true
		}
	}
	f.cursor[p] = c
	return netip.Addr{}, false
}

// hostUsable reports whether a may be given to an interface in prefix p:
// not IPv4's network or broadcast address, not IPv6's subnet-router
// anycast address.
func hostUsable(p netip.Prefix, a netip.Addr) bool {
	if a.Is4() {
		return p.Bits() >= 31 || a != p.Addr() && a != lastAddr(p)
	}
	return p.Bits() >= 127 || a != p.Addr()
}

// addrAdd returns a+k.
func addrAdd(a netip.Addr, k uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])+uint32(k))
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	nlo := lo + k
	if nlo < lo {
		hi++
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], nlo)
	return netip.AddrFrom16(b)
}

// halves splits a prefix into its two halves.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	bits := p.Bits()
	b := p.Addr().AsSlice()
	lo = netip.PrefixFrom(p.Addr(), bits+1)
	b[bits/8] |= 0x80 >> (bits % 8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, bits+1)
}

// blockPool is a buddy allocator of aligned blocks.
type blockPool struct {
	min  int             // the pool's own prefix length
	free [129]prefixHeap // by prefix length, lowest address first
}

// allocate carves blocks of the given prefix lengths, in order, out of pool
// minus reserved (sorted). It fails when one does not fit.
func allocate(pool netip.Prefix, reserved []netip.Prefix, bits []int) ([]netip.Prefix, bool) {
	bp := &blockPool{min: pool.Bits()}
	var res []netip.Prefix
	for _, r := range reserved {
		if r.Addr().Is4() == pool.Addr().Is4() && r.Overlaps(pool) {
			res = append(res, r)
		}
	}
	bp.carve(pool, res)
	out := make([]netip.Prefix, len(bits))
	for i, b := range bits {
		blk, ok := bp.take(b)
		if !ok {
			return nil, false
		}
		out[i] = blk
	}
	return out, true
}

// carve puts block b on the free lists, minus the reserved prefixes that
// overlap it. Prefixes are aligned, so a reserved prefix either contains b
// or lies inside one of its halves.
func (bp *blockPool) carve(b netip.Prefix, res []netip.Prefix) {
	if len(res) == 0 {
		heap.Push(&bp.free[b.Bits()], b)
		return
	}
	for _, r := range res {
		if r.Bits() <= b.Bits() {
			return
		}
	}
	lo, hi := halves(b)
	var rl, rh []netip.Prefix
	for _, r := range res {
		if lo.Overlaps(r) {
			rl = append(rl, r)
		} else {
			rh = append(rh, r)
		}
	}
	bp.carve(lo, rl)
	bp.carve(hi, rh)
}

// take returns the free block of the given length with the lowest
// address, splitting the lowest larger free block when that comes first:
// blocks are handed out from the start of the pool upwards.
func (bp *blockPool) take(bits int) (netip.Prefix, bool) {
	if bits < bp.min || bits > 128 {
		return netip.Prefix{}, false
	}
	best := -1
	for q := bp.min; q <= bits; q++ {
		if bp.free[q].Len() > 0 && (best < 0 || bp.free[q][0].Addr().Less(bp.free[best][0].Addr())) {
			best = q
		}
	}
	if best < 0 {
		return netip.Prefix{}, false
	}
	b := heap.Pop(&bp.free[best]).(netip.Prefix)
	for b.Bits() < bits {
		lo, hi := halves(b)
		heap.Push(&bp.free[hi.Bits()], hi)
		b = lo
	}
	return b, true
}

type prefixHeap []netip.Prefix

func (h prefixHeap) Len() int           { return len(h) }
func (h prefixHeap) Less(i, j int) bool { return h[i].Addr().Less(h[j].Addr()) }
func (h prefixHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *prefixHeap) Push(x any)        { *h = append(*h, x.(netip.Prefix)) }
func (h *prefixHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// AssignMACs gives every interface of the lab a locally administered
// unicast MAC (02:xx:xx:xx:xx:xx) derived from the lab, node and interface
// names: stable across runs, different between two labs that use the same
// node names. Call it again after renaming the lab. Within a lab, MACs are
// unique.
func AssignMACs(lab *Lab) {
	seen := make(map[uint64]bool)
	for _, n := range lab.Nodes {
		for _, ifc := range n.Ifaces {
			var h uint64
			for salt := byte(0); ; salt++ {
				h = macHash(lab.Name, n.Name, ifc.Name, salt) & (1<<40 - 1)
				if !seen[h] {
					break
				}
			}
			seen[h] = true
			const hexd = "0123456789abcdef"
			mac := []byte("02:00:00:00:00:00")
			for i := range 5 {
				b := byte(h >> (32 - 8*i))
				mac[3+3*i], mac[4+3*i] = hexd[b>>4], hexd[b&15]
			}
			ifc.MAC = string(mac)
		}
	}
}

// macHash is FNV-1a over the names, NUL-separated, finished with
// splitmix64's mixer because FNV's low bits mix poorly for near-identical
// names. salt, when not 0, resolves the rare collision.
func macHash(lab, node, iface string, salt byte) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, s := range [...]string{lab, node, iface} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h *= prime // the NUL separator
	}
	h = (h ^ uint64(salt)) * prime
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
