package graph

import (
	"math"
	"strings"
)

// A scene is a doc made ready to lay out and draw: every label split into
// lines and measured, every node sized, styles read. Lengths are in points
// (1/72 inch), y grows downwards.

type point struct{ x, y float64 }

func (p point) add(q point) point            { return point{p.x + q.x, p.y + q.y} }
func (p point) sub(q point) point            { return point{p.x - q.x, p.y - q.y} }
func (p point) mul(f float64) point          { return point{p.x * f, p.y * f} }
func (p point) len() float64                 { return math.Hypot(p.x, p.y) }
func (p point) unit() point                  { l := p.len(); return point{p.x / max(l, 1e-9), p.y / max(l, 1e-9)} }
func (p point) dist(q point) float64         { return p.sub(q).len() }
func lerp(p, q point, t float64) point       { return p.add(q.sub(p).mul(t)) }
func (p point) near(q point, d float64) bool { return math.Abs(p.x-q.x) < d && math.Abs(p.y-q.y) < d }

// text is a label: its lines, font size, colour and measured size.
type text struct {
	lines []string
	size  float64
	color string
	w, h  float64
}

func (t text) empty() bool { return len(t.lines) == 0 || len(t.lines) == 1 && t.lines[0] == "" }

type snode struct {
	name     string
	shape    string
	style    map[string]bool
	fill     string
	line     string
	penwidth float64
	label    text
	tooltip  string
	w, h     float64
	x, y     float64 // centre, after layout
	pos      point   // from the pos attribute
	hasPos   bool
	pinned   bool
}

func (n *snode) center() point { return point{n.x, n.y} }

type sedge struct {
	t, h     int // node indices
	style    map[string]bool
	color    string
	penwidth float64
	label    text
	tail     text
	head     text
	tooltip  string
	// pts is the route from the tail's border to the head's; curved says
	// to draw it as a smooth curve through them.
	pts                     []point
	curved                  bool
	labelAt, tailAt, headAt point
}

type scene struct {
	name    string
	engine  string
	rankdir string
	bg      string
	label   text
	nodes   []*snode
	edges   []*sedge
	// after layout: the drawing's size, everything inside [0,w]x[0,h].
	w, h float64
}

// Sizes Graphviz uses by default, in points.
const (
	minNodeWidth  = 54 // 0.75 in
	minNodeHeight = 36 // 0.5 in
)

func newScene(d *doc, m *measurer) *scene {
	s := &scene{name: d.name, engine: d.engine}
	g := map[string]string{}
	for _, a := range d.graph {
		g[a.k] = a.v
	}
	s.rankdir = strings.ToUpper(g["rankdir"])
	s.bg = g["bgcolor"]
	if l := g["label"]; l != "" {
		size := number(g["fontsize"], 14)
		s.label = measure(m, labelText(l, map[byte]string{'G': d.name}), size, g["fontcolor"])
	}
	index := make(map[string]int, len(d.nodes))
	for i, n := range d.nodes {
		index[n.name] = i
		s.nodes = append(s.nodes, newSnode(n, d.name, m))
	}
	for _, e := range d.edges {
		t, ok1 := index[e.tail]
		h, ok2 := index[e.head]
		if !ok1 || !ok2 {
			continue
		}
		s.edges = append(s.edges, newSedge(e, t, h, d.name, m))
	}
	return s
}

// merged is the attributes of an element over the defaults, as a map.
func merged(defaults []attr, look attrs) map[string]string {
	a := make(map[string]string, len(defaults)+len(look))
	for _, x := range defaults {
		a[x.k] = x.v
	}
	for _, x := range look {
		a[x.k] = x.v
	}
	return a
}

func measure(m *measurer, lines []string, size float64, color string) text {
	t := text{lines: lines, size: size, color: color}
	t.w, t.h = m.block(lines, size)
	return t
}

func newSnode(dn *docNode, graphName string, m *measurer) *snode {
	a := merged(nodeDefaults, dn.look)
	n := &snode{
		name:     dn.name,
		shape:    strings.ToLower(a["shape"]),
		style:    styles(a["style"]),
		fill:     a["fillcolor"],
		line:     a["color"],
		penwidth: number(a["penwidth"], 1),
		tooltip:  a["tooltip"],
	}
	if n.shape == "" {
		n.shape = "ellipse"
	}
	if n.line == "" {
		n.line = "black"
	}
	if n.fill == "" {
		n.fill = n.line
		if n.shape == "point" {
			n.fill = "black"
		} else if !n.style["filled"] {
			n.fill = "none"
		}
	}
	if n.style["bold"] {
		n.penwidth = max(n.penwidth, 2)
	}
	label, ok := a["label"]
	if !ok {
		label = `\N`
	}
	lines := labelText(label, map[byte]string{'N': dn.name, 'G': graphName, 'L': ""})
	n.label = measure(m, lines, number(a["fontsize"], 14), a["fontcolor"])

	w, h := n.label.w+16, n.label.h+8
	switch n.shape {
	case "ellipse", "oval", "circle", "doublecircle":
		w, h = w*math.Sqrt2, h*math.Sqrt2
	case "diamond":
		w, h = w*2, h*2
	case "hexagon", "octagon":
		w, h = w*1.3, h*1.2
	case "plain":
		w, h = n.label.w, n.label.h
	case "point":
		w, h = 3.6, 3.6
		n.label = text{}
	}
	if n.shape != "plain" && n.shape != "point" {
		w = max(w, number(a["width"], minNodeWidth/72.0)*72)
		h = max(h, number(a["height"], minNodeHeight/72.0)*72)
	}
	if n.shape == "circle" || n.shape == "doublecircle" {
		w = max(w, h)
		h = w
	}
	if n.shape == "doublecircle" {
		w, h = w+8, h+8
	}
	n.w, n.h = w, h
	if p, pinned, ok := position(a["pos"]); ok {
		n.pos, n.hasPos, n.pinned = p, true, pinned
	}
	return n
}

func newSedge(de *docEdge, t, h int, graphName string, m *measurer) *sedge {
	a := merged(edgeDefaults, de.look)
	e := &sedge{
		t: t, h: h,
		style:    styles(a["style"]),
		color:    a["color"],
		penwidth: number(a["penwidth"], 1),
		tooltip:  a["tooltip"],
	}
	if e.color == "" {
		e.color = "black"
	}
	if e.style["bold"] {
		e.penwidth = max(e.penwidth, 2)
	}
	esc := map[byte]string{'E': de.tail + "--" + de.head, 'T': de.tail, 'H': de.head, 'G': graphName}
	size := number(a["fontsize"], 14)
	fontColor := a["fontcolor"]
	if l := a["label"]; l != "" {
		e.label = measure(m, labelText(l, esc), size, fontColor)
	}
	endSize := number(a["labelfontsize"], size)
	endColor := a["labelfontcolor"]
	if endColor == "" {
		endColor = fontColor
	}
	if l := a["taillabel"]; l != "" {
		e.tail = measure(m, labelText(l, esc), endSize, endColor)
	}
	if l := a["headlabel"]; l != "" {
		e.head = measure(m, labelText(l, esc), endSize, endColor)
	}
	return e
}
