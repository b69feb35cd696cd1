package graph

import (
	"context"
	"math"
	"slices"
	"sort"
)

// The dot engine: a layered drawing (Sugiyama's method). Edges point from
// tail to head, down the page (rankdir turns it); cycles are broken by
// reversing the edges that close them; each node gets a rank, edges that
// skip ranks get a chain of virtual nodes; the order inside each rank is
// chosen to cross few edges (barycentres, keeping the best of several
// sweeps); x positions pull each node towards its neighbours without
// overlaps (weighted isotonic regression); ranks are spaced to leave room
// for the labels on the edges between them.

type lvert struct {
	node  int     // index in scene.nodes, or -1 for a virtual node
	along float64 // size along the rank (width when top to bottom)
	cross float64 // size across ranks
	rank  int
	pos   int // index within the rank
	x     float64
	// up and down are the vertices joined to this one in the ranks above
	// and below, with weights.
	up, down []wlink
}

type wlink struct {
	v int
	w float64
}

// lchain is one scene edge as a path of vertices, top to bottom.
type lchain struct {
	edge     *sedge
	verts    []int
	reversed bool // the edge points up: its route is drawn backwards
}

func (s *scene) layered(ctx context.Context) error {
	n := len(s.nodes)
	lr := s.rankdir == "LR" || s.rankdir == "RL"
	verts := make([]lvert, n, n+len(s.edges))
	for i, nd := range s.nodes {
		verts[i] = lvert{node: i, along: nd.w, cross: nd.h}
		if lr {
			verts[i].along, verts[i].cross = nd.h, nd.w
		}
	}
	ranks, reversed := s.ranks()
	for i := range verts {
		verts[i].rank = ranks[i]
	}

	// Chains of virtual nodes for edges that skip ranks.
	chains := make([]lchain, len(s.edges))
	for k, e := range s.edges {
		a, b := e.t, e.h
		if reversed[k] {
			a, b = b, a
		}
		c := lchain{edge: e, verts: []int{a}, reversed: reversed[k]}
		for r := ranks[a] + 1; r < ranks[b]; r++ {
			verts = append(verts, lvert{node: -1, along: 6, cross: 0, rank: r})
			c.verts = append(c.verts, len(verts)-1)
		}
		c.verts = append(c.verts, b)
		for i := 1; i < len(c.verts); i++ {
			u, v := c.verts[i-1], c.verts[i]
			w := 1.0
			switch {
			case verts[u].node < 0 && verts[v].node < 0:
				w = 8
			case verts[u].node < 0 || verts[v].node < 0:
				w = 2
			}
			verts[u].down = append(verts[u].down, wlink{v, w})
			verts[v].up = append(verts[v].up, wlink{u, w})
		}
		chains[k] = c
	}
	maxRank := 0
	for _, v := range verts {
		maxRank = max(maxRank, v.rank)
	}
	layers := make([][]int, maxRank+1)
	for _, i := range s.initialOrder(verts) {
		layers[verts[i].rank] = append(layers[verts[i].rank], i)
	}
	if err := orderLayers(ctx, verts, layers); err != nil {
		return err
	}

	// Room between neighbours in a rank: the end labels sit beside the
	// edges, so leave a label's width.
	sep := 18.0
	for _, e := range s.edges {
		for _, t := range []text{e.tail, e.head, e.label} {
			if !t.empty() {
				if lr {
					sep = math.Max(sep, t.h+10)
				} else {
					sep = math.Max(sep, t.w+10)
				}
			}
		}
	}
	// A box with many edges on one side (a bridge with its ports) gets
	// them spread along that side, and grows to give each its label.
	upCount, downCount := make([]int, n), make([]int, n)
	portW := make([]float64, n)
	for _, c := range chains {
		first, last := c.verts[0], c.verts[len(c.verts)-1]
		downCount[first]++
		upCount[last]++
		e := c.edge
		for _, end := range []struct {
			node int
			t    text
		}{{e.t, e.tail}, {e.h, e.head}} {
			if !end.t.empty() {
				w := end.t.w
				if lr {
					w = end.t.h
				}
				portW[end.node] = math.Max(portW[end.node], w)
			}
		}
	}
	spread := make([]bool, n)
	for i, nd := range s.nodes {
		k := max(upCount[i], downCount[i])
		if !boxLike(nd.shape) || k < 2 {
			continue
		}
		spread[i] = true
		// Ports about as far apart as the nodes they lead to: the edges
		// run nearly straight and their labels clear.
		verts[i].along = math.Max(verts[i].along, float64(k)*math.Max(portW[i]+10, 0.7*(minNodeWidth+sep)))
		if lr {
			nd.h = verts[i].along
		} else {
			nd.w = verts[i].along
		}
	}
	if err := placeX(ctx, verts, layers, sep); err != nil {
		return err
	}

	// Rank positions: each gap as tall as the labels in it need. Labels
	// sit beside the line, one after the other along it, so a slanted
	// segment needs a longer line, which a taller gap gives it.
	height := make([]float64, maxRank+1)
	for _, v := range verts {
		height[v.rank] = math.Max(height[v.rank], v.cross)
	}
	gap := make([]float64, max(maxRank, 1))
	for i := range gap {
		gap[i] = 36
	}
	// extent is how far a label reaches along a line of direction
	// (along the ranks, across them).
	extent := func(t text, da, dc float64) float64 {
		if t.empty() {
			return 0
		}
		wa, wc := t.w, t.h
		if lr {
			wa, wc = t.h, t.w
		}
		return da*wa + dc*wc
	}
	for _, c := range chains {
		e := c.edge
		top, bottom := e.tail, e.head
		if c.reversed {
			top, bottom = bottom, top
		}
		segs := len(c.verts) - 1
		mid := (segs - 1) / 2
		for i := range segs {
			u, v := verts[c.verts[i]], verts[c.verts[i+1]]
			r := u.rank
			dx := math.Abs(v.x - u.x)
			g := gap[r]
			for range 6 {
				cy := g + height[r]/2 + height[r+1]/2
				l := math.Hypot(dx, cy)
				da, dc := dx/l, cy/l
				need := 16.0
				if i == 0 {
					need += extent(top, da, dc) + 8
				}
				if i == segs-1 {
					need += extent(bottom, da, dc) + 8
				}
				if i == mid {
					need += extent(e.label, da, dc)
				}
				g = math.Max(gap[r], need*dc)
			}
			gap[r] = g
		}
	}
	y := make([]float64, maxRank+1)
	for r := 1; r <= maxRank; r++ {
		y[r] = y[r-1] + height[r-1]/2 + gap[r-1] + height[r]/2
	}

	frame := func(p point) point {
		switch s.rankdir {
		case "LR":
			return point{p.y, p.x}
		case "RL":
			return point{-p.y, p.x}
		case "BT":
			return point{p.x, -p.y}
		}
		return p
	}
	center := func(v int) point { return point{verts[v].x, y[verts[v].rank]} }
	for i, nd := range s.nodes {
		p := frame(center(i))
		nd.x, nd.y = p.x, p.y
	}
	// Where spread edges meet their node: along its side, in the order of
	// the vertices they come from.
	type end struct {
		chain int
		first bool // the chain's upper end
	}
	attach := map[end]point{}
	sides := map[[2]int][]end{} // (node, 0 up | 1 down)
	for k, c := range chains {
		first, last := c.verts[0], c.verts[len(c.verts)-1]
		if spread[first] {
			sides[[2]int{first, 1}] = append(sides[[2]int{first, 1}], end{k, true})
		}
		if spread[last] {
			sides[[2]int{last, 0}] = append(sides[[2]int{last, 0}], end{k, false})
		}
	}
	for key, ends := range sides {
		i, down := key[0], key[1] == 1
		other := func(x end) float64 {
			vs := chains[x.chain].verts
			if x.first {
				return verts[vs[1]].x
			}
			return verts[vs[len(vs)-2]].x
		}
		slices.SortStableFunc(ends, func(a, b end) int {
			if d := other(a) - other(b); d != 0 {
				return int(math.Copysign(1, d))
			}
			return a.chain - b.chain
		})
		w := verts[i].along * 0.9
		dy := -verts[i].cross / 2
		if down {
			dy = -dy
		}
		for j, x := range ends {
			p := center(i)
			attach[x] = point{p.x - w/2 + (float64(j)+0.5)*w/float64(len(ends)), p.y + dy}
		}
	}
	groups := s.parallel()
	multi := map[*sedge][2]int{}
	for _, g := range groups {
		if len(g) > 1 {
			for i, e := range g {
				multi[e] = [2]int{i, len(g)}
			}
		}
	}
	for k, c := range chains {
		e := c.edge
		e.pts = e.pts[:0]
		for _, v := range c.verts {
			e.pts = append(e.pts, center(v))
		}
		top, topOK := attach[end{k, true}]
		bottom, bottomOK := attach[end{k, false}]
		if topOK {
			e.pts[0] = top
		}
		if bottomOK {
			e.pts[len(e.pts)-1] = bottom
		}
		for i := range e.pts {
			e.pts[i] = frame(e.pts[i])
		}
		if c.reversed {
			slices.Reverse(e.pts)
			topOK, bottomOK = bottomOK, topOK
		}
		e.curved = len(e.pts) > 2
		if m, ok := multi[e]; ok && len(e.pts) == 2 && !topOK && !bottomOK {
			bow(e, m[0], m[1])
		}
		// Clip the ends that meet their node's centre.
		nt, nh := s.nodes[e.t], s.nodes[e.h]
		if !topOK {
			e.pts[0] = border(nt, e.pts[1])
		}
		if !bottomOK {
			e.pts[len(e.pts)-1] = border(nh, e.pts[len(e.pts)-2])
		}
	}
	return nil
}

// ranks assigns each node a rank: the longest path from a source, then
// nodes pulled down next to their nearest successor. It also says which
// edges were reversed to break cycles.
func (s *scene) ranks() ([]int, []bool) {
	n := len(s.nodes)
	out := make([][]int, n) // edge indices leaving each node
	for k, e := range s.edges {
		out[e.t] = append(out[e.t], k)
	}
	// Depth first search in node order; an edge to a node on the stack
	// closes a cycle and is reversed.
	reversed := make([]bool, len(s.edges))
	state := make([]uint8, n) // 0 new, 1 on stack, 2 done
	var topo []int            // reverse postorder
	var visit func(int)
	visit = func(i int) {
		state[i] = 1
		for _, k := range out[i] {
			j := s.edges[k].h
			switch state[j] {
			case 0:
				visit(j)
			case 1:
				reversed[k] = true
			}
		}
		state[i] = 2
		topo = append(topo, i)
	}
	for i := range n {
		if state[i] == 0 {
			visit(i)
		}
	}
	slices.Reverse(topo)
	succ := make([][]int, n)
	pred := make([][]int, n)
	for k, e := range s.edges {
		a, b := e.t, e.h
		if reversed[k] {
			a, b = b, a
		}
		if a == b {
			continue
		}
		succ[a] = append(succ[a], b)
		pred[b] = append(pred[b], a)
	}
	rank := make([]int, n)
	for _, i := range topo {
		for _, p := range pred[i] {
			rank[i] = max(rank[i], rank[p]+1)
		}
	}
	for k := len(topo) - 1; k >= 0; k-- {
		i := topo[k]
		if len(succ[i]) == 0 {
			continue
		}
		lowest := math.MaxInt
		for _, j := range succ[i] {
			lowest = min(lowest, rank[j])
		}
		rank[i] = max(rank[i], lowest-1)
	}
	return rank, reversed
}

// initialOrder lists the vertices breadth first from the top rank's
// nodes, in scene order: a start that already keeps neighbours close.
func (s *scene) initialOrder(verts []lvert) []int {
	seen := make([]bool, len(verts))
	var order []int
	starts := make([]int, 0, len(verts))
	for i := range verts {
		starts = append(starts, i)
	}
	sort.SliceStable(starts, func(a, b int) bool { return verts[starts[a]].rank < verts[starts[b]].rank })
	for _, st := range starts {
		if seen[st] {
			continue
		}
		seen[st] = true
		queue := []int{st}
		for k := 0; k < len(queue); k++ {
			v := queue[k]
			order = append(order, v)
			for _, l := range slices.Concat(verts[v].down, verts[v].up) {
				if !seen[l.v] {
					seen[l.v] = true
					queue = append(queue, l.v)
				}
			}
		}
	}
	return order
}

// orderLayers reorders each rank to reduce crossings: sweeps down and up,
// sorting by the barycentre of the neighbours in the rank just placed,
// keeping the best order seen.
func orderLayers(ctx context.Context, verts []lvert, layers [][]int) error {
	setPos := func() {
		for _, l := range layers {
			for i, v := range l {
				verts[v].pos = i
			}
		}
	}
	setPos()
	best := cloneLayers(layers)
	bestX := crossings(verts, layers)
	sweep := func(r int, side func(v int) []wlink) {
		l := layers[r]
		key := make(map[int]float64, len(l))
		for _, v := range l {
			sum, w := 0.0, 0.0
			for _, nb := range side(v) {
				sum += float64(verts[nb.v].pos) * nb.w
				w += nb.w
			}
			if w > 0 {
				key[v] = sum / w
			} else {
				key[v] = float64(verts[v].pos)
			}
		}
		sort.SliceStable(l, func(a, b int) bool { return key[l[a]] < key[l[b]] })
		for i, v := range l {
			verts[v].pos = i
		}
	}
	for iter := 0; iter < 12 && bestX > 0; iter++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if iter%2 == 0 {
			for r := 1; r < len(layers); r++ {
				sweep(r, func(v int) []wlink { return verts[v].up })
			}
		} else {
			for r := len(layers) - 2; r >= 0; r-- {
				sweep(r, func(v int) []wlink { return verts[v].down })
			}
		}
		if x := crossings(verts, layers); x < bestX {
			bestX = x
			best = cloneLayers(layers)
		}
	}
	for r := range layers {
		copy(layers[r], best[r])
	}
	setPos()
	return nil
}

func cloneLayers(l [][]int) [][]int {
	out := make([][]int, len(l))
	for i := range l {
		out[i] = slices.Clone(l[i])
	}
	return out
}

// crossings counts the edge crossings between all adjacent ranks: for
// edges sorted by their upper end, the inversions of their lower ends.
func crossings(verts []lvert, layers [][]int) int {
	total := 0
	for r := 0; r+1 < len(layers); r++ {
		var pairs [][2]int
		for _, v := range layers[r] {
			for _, d := range verts[v].down {
				pairs = append(pairs, [2]int{verts[v].pos, verts[d.v].pos})
			}
		}
		slices.SortFunc(pairs, func(a, b [2]int) int {
			if a[0] != b[0] {
				return a[0] - b[0]
			}
			return a[1] - b[1]
		})
		// Fenwick tree over the lower positions.
		tree := make([]int, len(layers[r+1])+1)
		for i, p := range pairs {
			// Count earlier pairs whose lower end is beyond p's.
			le := 0
			for j := p[1] + 1; j > 0; j -= j & -j {
				le += tree[j]
			}
			total += i - le
			for j := p[1] + 1; j < len(tree); j += j & -j {
				tree[j]++
			}
		}
	}
	return total
}

// placeX gives each vertex its x: ranks packed left to right first, then
// sweeps that pull each vertex to the weighted mean of its neighbours,
// keeping order and gaps.
func placeX(ctx context.Context, verts []lvert, layers [][]int, sep float64) error {
	gaps := func(l []int) []float64 {
		g := make([]float64, len(l))
		for i := 1; i < len(l); i++ {
			a, b := verts[l[i-1]], verts[l[i]]
			s := sep
			if a.node < 0 && b.node < 0 {
				s = 8
			}
			g[i] = (a.along+b.along)/2 + s
		}
		return g
	}
	layerGaps := make([][]float64, len(layers))
	for r, l := range layers {
		layerGaps[r] = gaps(l)
		x := 0.0
		for i, v := range l {
			x += layerGaps[r][i]
			verts[v].x = x
		}
	}
	place := func(r int, up, down bool) {
		l := layers[r]
		target := make([]float64, len(l))
		weight := make([]float64, len(l))
		for i, v := range l {
			sum, w := 0.0, 0.0
			if up {
				for _, nb := range verts[v].up {
					sum += verts[nb.v].x * nb.w
					w += nb.w
				}
			}
			if down {
				for _, nb := range verts[v].down {
					sum += verts[nb.v].x * nb.w
					w += nb.w
				}
			}
			if w == 0 {
				target[i], weight[i] = verts[v].x, 0.25
			} else {
				target[i], weight[i] = sum/w, w
			}
		}
		xs := isotonic(target, weight, layerGaps[r])
		for i, v := range l {
			verts[v].x = xs[i]
		}
	}
	for iter := range 10 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		both := iter >= 6
		for r := 1; r < len(layers); r++ {
			place(r, true, both)
		}
		for r := len(layers) - 2; r >= 0; r-- {
			place(r, both, true)
		}
	}
	return nil
}

// isotonic returns xs minimising sum w[i]*(xs[i]-t[i])^2 subject to
// xs[i]-xs[i-1] >= gap[i]: with y[i] = xs[i] - (gaps so far) it is a
// weighted isotonic regression, solved by pooling adjacent violators.
func isotonic(t, w, gap []float64) []float64 {
	n := len(t)
	off := make([]float64, n)
	for i := 1; i < n; i++ {
		off[i] = off[i-1] + gap[i]
	}
	type block struct {
		sum, w float64
		n      int
	}
	var blocks []block
	for i := range n {
		b := block{sum: (t[i] - off[i]) * w[i], w: w[i], n: 1}
		for len(blocks) > 0 {
			last := blocks[len(blocks)-1]
			if last.sum/last.w <= b.sum/b.w {
				break
			}
			b = block{sum: last.sum + b.sum, w: last.w + b.w, n: last.n + b.n}
			blocks = blocks[:len(blocks)-1]
		}
		blocks = append(blocks, b)
	}
	xs := make([]float64, 0, n)
	for _, b := range blocks {
		for range b.n {
			xs = append(xs, b.sum/b.w+off[len(xs)])
		}
	}
	return xs
}

// boxLike reports whether a shape has straight sides that edges can meet
// anywhere along.
func boxLike(shape string) bool {
	switch shape {
	case "box", "rect", "rectangle", "square":
		return true
	}
	return false
}
