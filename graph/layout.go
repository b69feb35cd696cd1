package graph

import (
	"context"
	"math"
	"slices"
)

// layout places the nodes with the scene's engine, routes the edges,
// places their labels and moves everything into [0,w]x[0,h].
func (s *scene) layout(ctx context.Context, m *measurer) error {
	var err error
	switch s.engine {
	case "dot":
		err = s.layered(ctx)
	case "neato":
		err = s.force(ctx, s.stress)
	case "fdp":
		err = s.force(ctx, s.springs)
	case "circo":
		err = s.force(ctx, s.circle)
	case "twopi":
		err = s.force(ctx, s.radial)
	}
	if err != nil {
		return err
	}
	if s.engine != "dot" {
		s.straightRoutes()
	}
	s.placeLabels()
	s.fit()
	return nil
}

// edgeLength is the length force layouts give an edge: room for the two
// nodes' halves and the labels at both ends and in the middle.
func (s *scene) edgeLength(e *sedge) float64 {
	t, h := s.nodes[e.t], s.nodes[e.h]
	ends := max(e.tail.w, e.tail.h) + max(e.head.w, e.head.h) + max(e.label.w, e.label.h)
	return 24 + (max(t.w, t.h)+max(h.w, h.h))/2 + ends*0.8
}

// straightRoutes gives every edge a straight route between its nodes,
// bowing edges that share their two nodes apart.
func (s *scene) straightRoutes() {
	for _, group := range s.parallel() {
		for i, e := range group {
			t, h := s.nodes[e.t], s.nodes[e.h]
			e.pts = []point{t.center(), h.center()}
			e.curved = false
			if len(group) > 1 {
				bow(e, i, len(group))
			}
			s.clip(e)
		}
	}
}

// parallel groups the edges by the pair of nodes they join, in order.
func (s *scene) parallel() [][]*sedge {
	type pair struct{ a, b int }
	idx := map[pair]int{}
	var out [][]*sedge
	for _, e := range s.edges {
		p := pair{min(e.t, e.h), max(e.t, e.h)}
		i, ok := idx[p]
		if !ok {
			i = len(out)
			idx[p] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], e)
	}
	return out
}

// bow bends the i-th of k edges between the same two nodes away from the
// straight line through a middle point, so that they do not overlap.
func bow(e *sedge, i, k int) {
	a, b := e.pts[0], e.pts[len(e.pts)-1]
	d := b.sub(a).unit()
	if e.t > e.h {
		d = d.mul(-1) // the same side for edges written either way round
	}
	n := point{-d.y, d.x}
	off := (float64(i) - float64(k-1)/2) * 28
	mid := lerp(a, b, 0.5).add(n.mul(off))
	e.pts = []point{a, mid, b}
	e.curved = off != 0
}

// clip cuts the route's ends back to the nodes' borders.
func (s *scene) clip(e *sedge) {
	if len(e.pts) < 2 {
		return
	}
	t, h := s.nodes[e.t], s.nodes[e.h]
	e.pts[0] = border(t, e.pts[1])
	e.pts[len(e.pts)-1] = border(h, e.pts[len(e.pts)-2])
}

// border is where the ray from the node's centre towards p leaves its
// shape.
func border(n *snode, p point) point {
	c := n.center()
	d := p.sub(c)
	if d.len() < 1e-6 {
		return c
	}
	a, b := n.w/2, n.h/2
	var t float64
	switch n.shape {
	case "ellipse", "oval", "circle", "doublecircle", "point":
		t = 1 / math.Sqrt(d.x*d.x/(a*a)+d.y*d.y/(b*b))
	case "diamond":
		t = 1 / (math.Abs(d.x)/a + math.Abs(d.y)/b)
	default:
		t = math.Min(a/math.Max(math.Abs(d.x), 1e-9), b/math.Max(math.Abs(d.y), 1e-9))
	}
	if t > 1 {
		return p
	}
	return c.add(d.mul(t))
}

// placeLabels puts each edge's label beside the middle of its route and
// its end labels beside its ends, all on one side of the line, clear of
// it: the side away from the other edges of its busier end (out of a fan,
// not into it), else to the right, or above a level line.
func (s *scene) placeLabels() {
	degree := make([]int, len(s.nodes))
	for _, e := range s.edges {
		degree[e.t]++
		degree[e.h]++
	}
	for _, e := range s.edges {
		n := len(e.pts)
		if n < 2 {
			continue
		}
		// fwd[i] is the tail-to-head direction at each end.
		fwdTail := e.pts[1].sub(e.pts[0]).unit()
		fwdHead := e.pts[n-1].sub(e.pts[n-2]).unit()
		hub, out := fwdTail, fwdTail
		if degree[e.h] > degree[e.t] {
			hub, out = fwdHead, fwdHead.mul(-1)
		}
		side := 1.0
		left := point{hub.y, -hub.x} // the normal on one side of the line
		switch {
		case math.Abs(out.x) > 0.05 && math.Abs(out.y) > 0.05:
			if (left.x > 0) != (out.x > 0) {
				side = -1
			}
		case left.x < -1e-3 || math.Abs(left.x) <= 1e-3 && left.y > 0:
			side = -1
		}
		normal := func(fwd point) point { return point{fwd.y, -fwd.x}.mul(side) }
		if !e.tail.empty() {
			e.tailAt = beside(e.pts[0], fwdTail, normal(fwdTail), e.tail, true)
		}
		if !e.head.empty() {
			e.headAt = beside(e.pts[n-1], fwdHead.mul(-1), normal(fwdHead), e.head, true)
		}
		if !e.label.empty() {
			p, d := midpoint(e.pts)
			e.labelAt = beside(p, d, normal(d), e.label, false)
		}
	}
}

// beside returns the centre of a label of size t placed beside the line
// through p in direction d, on the side of the unit normal n: at an end
// moved along d until it clears p, and off the line by half its size.
func beside(p, d, n point, t text, atEnd bool) point {
	c := p
	if atEnd {
		along := 5 + math.Abs(d.x)*t.w/2 + math.Abs(d.y)*t.h/2
		c = c.add(d.mul(along))
	}
	off := 3 + math.Abs(n.x)*t.w/2 + math.Abs(n.y)*t.h/2
	return c.add(n.mul(off))
}

// midpoint returns the point halfway along a polyline and its direction
// there.
func midpoint(pts []point) (point, point) {
	total := 0.0
	for i := 1; i < len(pts); i++ {
		total += pts[i].dist(pts[i-1])
	}
	half := total / 2
	for i := 1; i < len(pts); i++ {
		l := pts[i].dist(pts[i-1])
		if half <= l || i == len(pts)-1 {
			return lerp(pts[i-1], pts[i], half/math.Max(l, 1e-9)), pts[i].sub(pts[i-1]).unit()
		}
		half -= l
	}
	return pts[0], point{0, 1}
}

// margin around the drawing, in points.
const margin = 8

// fit moves the drawing so that everything, labels included, lies in
// [margin, w-margin] x [margin, h-margin], with the graph's label below.
func (s *scene) fit() {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	grow := func(c point, w, h float64) {
		minX, maxX = math.Min(minX, c.x-w/2), math.Max(maxX, c.x+w/2)
		minY, maxY = math.Min(minY, c.y-h/2), math.Max(maxY, c.y+h/2)
	}
	for _, n := range s.nodes {
		grow(n.center(), n.w+n.penwidth, n.h+n.penwidth)
	}
	for _, e := range s.edges {
		for _, p := range e.pts {
			grow(p, e.penwidth, e.penwidth)
		}
		for _, l := range []struct {
			t  text
			at point
		}{{e.label, e.labelAt}, {e.tail, e.tailAt}, {e.head, e.headAt}} {
			if !l.t.empty() {
				grow(l.at, l.t.w, l.t.h)
			}
		}
	}
	if math.IsInf(minX, 1) {
		minX, minY, maxX, maxY = 0, 0, 0, 0
	}
	dx, dy := margin-minX, margin-minY
	move := func(p point) point { return point{p.x + dx, p.y + dy} }
	for _, n := range s.nodes {
		n.x, n.y = n.x+dx, n.y+dy
	}
	for _, e := range s.edges {
		for i := range e.pts {
			e.pts[i] = move(e.pts[i])
		}
		e.labelAt, e.tailAt, e.headAt = move(e.labelAt), move(e.tailAt), move(e.headAt)
	}
	s.w = maxX - minX + 2*margin
	s.h = maxY - minY + 2*margin
	if !s.label.empty() {
		s.w = math.Max(s.w, s.label.w+2*margin)
		s.h += s.label.h + margin
	}
}

// components splits the nodes into connected components, each in order of
// the nodes, the components in order of their first node.
func (s *scene) components() [][]int {
	adj := s.adjacency()
	seen := make([]bool, len(s.nodes))
	var out [][]int
	for i := range s.nodes {
		if seen[i] {
			continue
		}
		comp := []int{i}
		seen[i] = true
		for k := 0; k < len(comp); k++ {
			for _, j := range adj[comp[k]] {
				if !seen[j] {
					seen[j] = true
					comp = append(comp, j)
				}
			}
		}
		slices.Sort(comp)
		out = append(out, comp)
	}
	return out
}

// adjacency lists each node's neighbours, once each, in edge order.
func (s *scene) adjacency() [][]int {
	adj := make([][]int, len(s.nodes))
	for _, e := range s.edges {
		if !slices.Contains(adj[e.t], e.h) {
			adj[e.t] = append(adj[e.t], e.h)
			adj[e.h] = append(adj[e.h], e.t)
		}
	}
	return adj
}

// force lays out each connected component with place (which sets the
// centres of the nodes it is given), then packs the components in rows.
func (s *scene) force(ctx context.Context, place func(context.Context, []int) error) error {
	comps := s.components()
	type box struct {
		comp                   []int
		minX, minY, maxX, maxY float64
	}
	boxes := make([]box, 0, len(comps))
	pinned := false
	for _, c := range comps {
		if err := place(ctx, c); err != nil {
			return err
		}
		b := box{comp: c, minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)}
		for _, i := range c {
			n := s.nodes[i]
			pinned = pinned || n.pinned
			b.minX, b.maxX = math.Min(b.minX, n.x-n.w/2), math.Max(b.maxX, n.x+n.w/2)
			b.minY, b.maxY = math.Min(b.minY, n.y-n.h/2), math.Max(b.maxY, n.y+n.h/2)
		}
		boxes = append(boxes, b)
	}
	if pinned || len(boxes) < 2 {
		return nil // pinned nodes stay where the user put them
	}
	// Rows about as wide as the whole area is tall.
	area := 0.0
	for _, b := range boxes {
		area += (b.maxX - b.minX + 40) * (b.maxY - b.minY + 40)
	}
	rowWidth := math.Max(math.Sqrt(area)*1.3, 0)
	x, y, rowH := 0.0, 0.0, 0.0
	for _, b := range boxes {
		w, h := b.maxX-b.minX+40, b.maxY-b.minY+40
		if x > 0 && x+w > rowWidth {
			x, y, rowH = 0, y+rowH, 0
		}
		for _, i := range b.comp {
			n := s.nodes[i]
			n.x += x - b.minX
			n.y += y - b.minY
		}
		x += w
		rowH = math.Max(rowH, h)
	}
	return nil
}
