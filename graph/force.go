package graph

import (
	"container/heap"
	"context"
	"math"
	"slices"
)

// Layouts of one connected component at a time, for neato, fdp, circo and
// twopi. Each sets the centres of the nodes it is given; pinned nodes
// (pos="x,y!") stay where the user put them, other nodes with a pos start
// there.

// localGraph is a component with its nodes renumbered from 0.
type localGraph struct {
	nodes []*snode
	// adj[i] lists (neighbour, edge length) pairs.
	adj [][]neighbour
}

type neighbour struct {
	j   int
	len float64
}

func (s *scene) local(comp []int) *localGraph {
	g := &localGraph{nodes: make([]*snode, len(comp)), adj: make([][]neighbour, len(comp))}
	at := make(map[int]int, len(comp))
	for i, n := range comp {
		at[n] = i
		g.nodes[i] = s.nodes[n]
	}
	for _, e := range s.edges {
		a, ok1 := at[e.t]
		b, ok2 := at[e.h]
		if !ok1 || !ok2 || a == b {
			continue
		}
		l := s.edgeLength(e)
		if k := slices.IndexFunc(g.adj[a], func(x neighbour) bool { return x.j == b }); k >= 0 {
			// Parallel edges: room for the longest.
			g.adj[a][k].len = math.Max(g.adj[a][k].len, l)
			k2 := slices.IndexFunc(g.adj[b], func(x neighbour) bool { return x.j == a })
			g.adj[b][k2].len = g.adj[a][k].len
			continue
		}
		g.adj[a] = append(g.adj[a], neighbour{b, l})
		g.adj[b] = append(g.adj[b], neighbour{a, l})
	}
	return g
}

// distances returns the shortest path lengths between all nodes (Dijkstra
// from each).
func (g *localGraph) distances() [][]float64 {
	n := len(g.nodes)
	d := make([][]float64, n)
	for s := range d {
		dist := make([]float64, n)
		for i := range dist {
			dist[i] = math.Inf(1)
		}
		dist[s] = 0
		q := &distHeap{{s, 0}}
		for q.Len() > 0 {
			it := heap.Pop(q).(distItem)
			if it.d > dist[it.i] {
				continue
			}
			for _, nb := range g.adj[it.i] {
				if nd := it.d + nb.len; nd < dist[nb.j] {
					dist[nb.j] = nd
					heap.Push(q, distItem{nb.j, nd})
				}
			}
		}
		d[s] = dist
	}
	return d
}

type distItem struct {
	i int
	d float64
}

type distHeap []distItem

func (h distHeap) Len() int           { return len(h) }
func (h distHeap) Less(i, j int) bool { return h[i].d < h[j].d }
func (h distHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *distHeap) Push(x any)        { *h = append(*h, x.(distItem)) }
func (h *distHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// initial places the component by pivot MDS: the classical scaling of the
// distances to a few far-apart pivot nodes, a good start that costs little.
// Nodes with a pos start there instead.
func (g *localGraph) initial(d [][]float64) []point {
	n := len(g.nodes)
	pts := make([]point, n)
	if n == 1 {
		return pts
	}
	// Pivots: farthest-first from node 0.
	k := min(n, 50)
	pivots := []int{0}
	minD := slices.Clone(d[0])
	for len(pivots) < k {
		best := -1
		for i := range n {
			if best < 0 || minD[i] > minD[best] {
				best = i
			}
		}
		if minD[best] == 0 {
			break
		}
		pivots = append(pivots, best)
		for i := range n {
			minD[i] = math.Min(minD[i], d[best][i])
		}
	}
	k = len(pivots)
	// C is the double-centred matrix of squared distances, n x k.
	c := make([][]float64, n)
	colMean := make([]float64, k)
	rowMean := make([]float64, n)
	total := 0.0
	for i := range n {
		c[i] = make([]float64, k)
		for j, p := range pivots {
			v := d[i][p] * d[i][p]
			c[i][j] = v
			rowMean[i] += v / float64(k)
			colMean[j] += v / float64(n)
			total += v / float64(n*k)
		}
	}
	for i := range n {
		for j := range k {
			c[i][j] = -0.5 * (c[i][j] - rowMean[i] - colMean[j] + total)
		}
	}
	// The two leading eigenvectors of CᵀC by power iteration.
	ctc := make([][]float64, k)
	for a := range k {
		ctc[a] = make([]float64, k)
		for b := range k {
			for i := range n {
				ctc[a][b] += c[i][a] * c[i][b]
			}
		}
	}
	var vecs [2][]float64
	for e := range 2 {
		v := make([]float64, k)
		for i := range v {
			v[i] = math.Sin(float64(i*(e+1)) + 1) // fixed, not random: the same picture every time
		}
		for range 100 {
			w := make([]float64, k)
			for a := range k {
				for b := range k {
					w[a] += ctc[a][b] * v[b]
				}
			}
			if e == 1 {
				// Deflate: stay orthogonal to the first vector.
				dot := 0.0
				for i := range w {
					dot += w[i] * vecs[0][i]
				}
				for i := range w {
					w[i] -= dot * vecs[0][i]
				}
			}
			norm := 0.0
			for _, x := range w {
				norm += x * x
			}
			norm = math.Sqrt(norm)
			if norm < 1e-12 {
				break
			}
			for i := range w {
				w[i] /= norm
			}
			v = w
		}
		vecs[e] = v
	}
	for i := range n {
		for j := range k {
			pts[i].x += c[i][j] * vecs[0][j]
			pts[i].y += c[i][j] * vecs[1][j]
		}
	}
	// Scale the result to the distances (the projection shrinks them).
	num, den := 0.0, 0.0
	for i := range n {
		for j := i + 1; j < n; j++ {
			if e := pts[i].dist(pts[j]); e > 0 && !math.IsInf(d[i][j], 0) {
				num += d[i][j] / e
				den++
			}
		}
		if den > 20000 {
			break
		}
	}
	if den > 0 {
		f := num / den
		for i := range pts {
			pts[i] = pts[i].mul(f)
		}
	}
	// Break ties: nodes the projection put on top of each other.
	for i := range pts {
		pts[i] = pts[i].add(point{math.Cos(float64(i)) * 0.5, math.Sin(float64(i)) * 0.5})
	}
	for i, nd := range g.nodes {
		if nd.hasPos {
			pts[i] = nd.pos
		}
	}
	return pts
}

func (g *localGraph) store(pts []point) {
	for i, n := range g.nodes {
		if n.pinned {
			n.x, n.y = n.pos.x, n.pos.y
		} else {
			n.x, n.y = pts[i].x, pts[i].y
		}
	}
}

// stress is neato's model: node distances in the picture as close as can
// be to their distances in the graph (edge lengths leave room for labels),
// weighted by the inverse square of the graph distance. It is solved by
// localized stress majorization, one node at a time, then overlaps are
// pushed apart.
func (s *scene) stress(ctx context.Context, comp []int) error {
	g := s.local(comp)
	d := g.distances()
	pts := g.initial(d)
	n := len(pts)
	for iter := 0; iter < 300 && n > 1; iter++ {
		if iter%16 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		moved := 0.0
		for i := range n {
			if g.nodes[i].pinned {
				continue
			}
			var sum point
			wsum := 0.0
			for j := range n {
				dij := d[i][j]
				if j == i || math.IsInf(dij, 0) || dij == 0 {
					continue
				}
				w := 1 / (dij * dij)
				diff := pts[i].sub(pts[j])
				l := diff.len()
				if l < 1e-9 {
					diff, l = point{1e-3, 0}, 1e-3
				}
				sum = sum.add(pts[j].add(diff.mul(dij / l)).mul(w))
				wsum += w
			}
			if wsum == 0 {
				continue
			}
			np := sum.mul(1 / wsum)
			moved = math.Max(moved, np.dist(pts[i]))
			pts[i] = np
		}
		if moved < 0.05 {
			break
		}
	}
	g.removeOverlaps(pts)
	g.store(pts)
	return nil
}

// springs is fdp's model (Fruchterman and Reingold): every pair of nodes
// repels, edges pull, and a cooling temperature bounds each move.
func (s *scene) springs(ctx context.Context, comp []int) error {
	g := s.local(comp)
	d := g.distances()
	pts := g.initial(d)
	n := len(pts)
	if n == 1 {
		g.store(pts)
		return nil
	}
	k := 0.0
	cnt := 0
	for i := range g.adj {
		for _, nb := range g.adj[i] {
			k += nb.len
			cnt++
		}
	}
	if cnt > 0 {
		k /= float64(cnt)
	} else {
		k = 100
	}
	const iters = 250
	temp := k * math.Sqrt(float64(n)) / 4
	disp := make([]point, n)
	for iter := range iters {
		if iter%16 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		clear(disp)
		for i := range n {
			for j := i + 1; j < n; j++ {
				diff := pts[i].sub(pts[j])
				l := math.Max(diff.len(), 1)
				f := k * k / l
				u := diff.mul(1 / l)
				disp[i] = disp[i].add(u.mul(f))
				disp[j] = disp[j].sub(u.mul(f))
			}
		}
		for i := range n {
			for _, nb := range g.adj[i] {
				if nb.j < i {
					continue
				}
				diff := pts[i].sub(pts[nb.j])
				l := math.Max(diff.len(), 1)
				f := l * l / nb.len
				u := diff.mul(1 / l)
				disp[i] = disp[i].sub(u.mul(f))
				disp[nb.j] = disp[nb.j].add(u.mul(f))
			}
		}
		for i := range n {
			if g.nodes[i].pinned {
				continue
			}
			l := disp[i].len()
			if l > 0 {
				pts[i] = pts[i].add(disp[i].mul(math.Min(l, temp) / l))
			}
		}
		temp = math.Max(temp*0.97, k*0.01)
	}
	g.removeOverlaps(pts)
	g.store(pts)
	return nil
}

// removeOverlaps pushes apart nodes whose boxes (with a gap) overlap.
func (g *localGraph) removeOverlaps(pts []point) {
	const gap = 12
	n := len(pts)
	for range 60 {
		overlap := false
		for i := range n {
			for j := i + 1; j < n; j++ {
				a, b := g.nodes[i], g.nodes[j]
				dx := pts[j].x - pts[i].x
				dy := pts[j].y - pts[i].y
				ox := (a.w+b.w)/2 + gap - math.Abs(dx)
				oy := (a.h+b.h)/2 + gap - math.Abs(dy)
				if ox <= 0 || oy <= 0 {
					continue
				}
				overlap = true
				// Move along the axis that needs less.
				var m point
				if ox < oy {
					m = point{math.Copysign(ox/2, dx+1e-9), 0}
				} else {
					m = point{0, math.Copysign(oy/2, dy+1e-9)}
				}
				switch {
				case a.pinned && b.pinned:
				case a.pinned:
					pts[j] = pts[j].add(m.mul(2))
				case b.pinned:
					pts[i] = pts[i].sub(m.mul(2))
				default:
					pts[i] = pts[i].sub(m)
					pts[j] = pts[j].add(m)
				}
			}
		}
		if !overlap {
			return
		}
	}
}

// dfsOrder lists the component's nodes depth first from its best
// connected node, so that neighbours tend to sit next to each other.
func (g *localGraph) dfsOrder() []int {
	n := len(g.nodes)
	root := 0
	for i := range n {
		if len(g.adj[i]) > len(g.adj[root]) {
			root = i
		}
	}
	seen := make([]bool, n)
	var order []int
	var visit func(int)
	visit = func(i int) {
		seen[i] = true
		order = append(order, i)
		for _, nb := range g.adj[i] {
			if !seen[nb.j] {
				visit(nb.j)
			}
		}
	}
	visit(root)
	return order
}

// circle is circo's picture: the component's nodes on a circle, in depth
// first order, spaced by their sizes.
func (s *scene) circle(ctx context.Context, comp []int) error {
	g := s.local(comp)
	n := len(g.nodes)
	pts := make([]point, n)
	if n > 1 {
		order := g.dfsOrder()
		longest := 0.0
		for i := range g.adj {
			for _, nb := range g.adj[i] {
				longest = math.Max(longest, nb.len)
			}
		}
		sizes := make([]float64, n)
		total := 0.0
		for k, i := range order {
			nd := g.nodes[i]
			sizes[k] = math.Max(nd.w, nd.h) + longest*0.6
			total += sizes[k]
		}
		// Neighbours on the circle as far apart as an edge is long.
		r := math.Max(total/(2*math.Pi), longest/(2*math.Sin(math.Pi/float64(n))))
		if n == 2 {
			r = longest / 2
		}
		a := -math.Pi / 2
		for k, i := range order {
			step := 2 * math.Pi * sizes[k] / total
			a += step / 2
			pts[i] = point{r * math.Cos(a), r * math.Sin(a)}
			a += step / 2
		}
	}
	g.store(pts)
	return ctx.Err()
}

// radial is twopi's picture: the best connected node in the centre, the
// others on rings by their distance in hops, each subtree in a wedge as
// wide as its leaves need.
func (s *scene) radial(ctx context.Context, comp []int) error {
	g := s.local(comp)
	n := len(g.nodes)
	pts := make([]point, n)
	if n > 1 {
		root := g.dfsOrder()[0]
		parent := make([]int, n)
		depth := make([]int, n)
		for i := range parent {
			parent[i] = -1
		}
		order := []int{root}
		parent[root] = root
		children := make([][]int, n)
		for k := 0; k < len(order); k++ {
			i := order[k]
			for _, nb := range g.adj[i] {
				if parent[nb.j] < 0 {
					parent[nb.j] = i
					depth[nb.j] = depth[i] + 1
					children[i] = append(children[i], nb.j)
					order = append(order, nb.j)
				}
			}
		}
		leaves := make([]float64, n)
		for k := len(order) - 1; k >= 0; k-- {
			i := order[k]
			if len(children[i]) == 0 {
				leaves[i] = 1
			}
			for _, c := range children[i] {
				leaves[i] += leaves[c]
			}
		}
		// Ring radii: an edge's length apart at least, and each ring
		// long enough for its nodes.
		maxDepth := 0
		for _, d := range depth {
			maxDepth = max(maxDepth, d)
		}
		need := make([]float64, maxDepth+1)
		step := 0.0
		for i := range g.adj {
			for _, nb := range g.adj[i] {
				step = math.Max(step, nb.len)
			}
		}
		for i, nd := range g.nodes {
			need[depth[i]] += math.Hypot(nd.w, nd.h) + 12
		}
		radius := make([]float64, maxDepth+1)
		for d := 1; d <= maxDepth; d++ {
			radius[d] = math.Max(radius[d-1]+step, need[d]/(2*math.Pi))
		}
		var place func(i int, from, to float64)
		place = func(i int, from, to float64) {
			a := (from + to) / 2
			pts[i] = point{radius[depth[i]] * math.Cos(a), radius[depth[i]] * math.Sin(a)}
			for _, c := range children[i] {
				w := (to - from) * leaves[c] / leaves[i]
				place(c, from, from+w)
				from += w
			}
		}
		place(root, -math.Pi/2, 3*math.Pi/2)
		g.removeOverlaps(pts)
	}
	g.store(pts)
	return ctx.Err()
}
