package graph

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// svg writes the laid-out scene as an SVG document: edges first, then
// nodes, then the edges' labels on top, each with a halo so that lines do
// not cross the text. Every element carries a <title>, which browsers show
// on hover.
func (s *scene) svg() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="no"?>` + "\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%spt" height="%spt" viewBox="0 0 %s %s">`+"\n",
		num(s.w), num(s.h), num(s.w), num(s.h))
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(s.name))
	bg := "white"
	if s.bg != "" {
		bg = svgColor(s.bg)
	}
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="%s"/>`+"\n", esc(bg))
	halo := bg
	if halo == "none" {
		halo = "white"
	}

	b.WriteString(`<g class="edges" fill="none">` + "\n")
	for i, e := range s.edges {
		if e.style["invis"] || len(e.pts) < 2 {
			continue
		}
		fmt.Fprintf(&b, `<g id="edge%d" class="edge"><title>%s</title>`, i+1, esc(tooltip(e.tooltip, s.nodes[e.t].name+"--"+s.nodes[e.h].name)))
		fmt.Fprintf(&b, `<path d="%s" stroke="%s"%s%s/></g>`+"\n", pathData(e.pts, e.curved), esc(svgColor(e.color)), strokeWidth(e.penwidth), dashAttr(e.style))
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="nodes">` + "\n")
	for _, n := range s.nodes {
		if n.style["invis"] {
			continue
		}
		fmt.Fprintf(&b, `<g id="%s" class="node"><title>%s</title>`, esc("node-"+n.name), esc(tooltip(n.tooltip, n.name)))
		s.svgShape(&b, n)
		svgText(&b, n.label, n.center(), "", "")
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="labels">` + "\n")
	for _, e := range s.edges {
		if e.style["invis"] {
			continue
		}
		svgText(&b, e.label, e.labelAt, halo, "label")
		svgText(&b, e.tail, e.tailAt, halo, "taillabel")
		svgText(&b, e.head, e.headAt, halo, "headlabel")
	}
	b.WriteString("</g>\n")
	if !s.label.empty() {
		svgText(&b, s.label, point{s.w / 2, s.h - margin - s.label.h/2}, "", "graphlabel")
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (s *scene) svgShape(b *bytes.Buffer, n *snode) {
	if n.shape == "plaintext" || n.shape == "plain" || n.shape == "none" {
		return
	}
	paint := fmt.Sprintf(` fill="%s" stroke="%s"%s%s`, esc(svgColor(n.fill)), esc(svgColor(n.line)), strokeWidth(n.penwidth), dashAttr(n.style))
	if o := svgOpacity(n.fill); o != "" {
		paint += ` fill-opacity="` + o + `"`
	}
	x, y, w, h := n.x-n.w/2, n.y-n.h/2, n.w, n.h
	switch n.shape {
	case "ellipse", "oval", "circle", "point":
		fmt.Fprintf(b, `<ellipse cx="%s" cy="%s" rx="%s" ry="%s"%s/>`, num(n.x), num(n.y), num(w/2), num(h/2), paint)
	case "doublecircle":
		fmt.Fprintf(b, `<ellipse cx="%s" cy="%s" rx="%s" ry="%s"%s/>`, num(n.x), num(n.y), num(w/2), num(h/2), paint)
		fmt.Fprintf(b, `<ellipse cx="%s" cy="%s" rx="%s" ry="%s" fill="none" stroke="%s"%s/>`, num(n.x), num(n.y), num(w/2-4), num(h/2-4), esc(svgColor(n.line)), strokeWidth(n.penwidth))
	default:
		if pts := polygon(n); pts != nil {
			var p []string
			for _, q := range pts {
				p = append(p, num(q.x)+","+num(q.y))
			}
			fmt.Fprintf(b, `<polygon points="%s"%s/>`, strings.Join(p, " "), paint)
			return
		}
		rx := ""
		if n.style["rounded"] {
			rx = ` rx="6" ry="6"`
		}
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s"%s%s/>`, num(x), num(y), num(w), num(h), rx, paint)
	}
}

// polygon is the outline of polygonal shapes, nil for boxes and curves.
func polygon(n *snode) []point {
	var unit []point
	switch n.shape {
	case "diamond":
		unit = []point{{0, -1}, {1, 0}, {0, 1}, {-1, 0}}
	case "hexagon":
		unit = []point{{-0.5, -1}, {0.5, -1}, {1, 0}, {0.5, 1}, {-0.5, 1}, {-1, 0}}
	case "octagon":
		unit = []point{{-0.4, -1}, {0.4, -1}, {1, -0.4}, {1, 0.4}, {0.4, 1}, {-0.4, 1}, {-1, 0.4}, {-1, -0.4}}
	case "triangle":
		unit = []point{{0, -1}, {1, 1}, {-1, 1}}
	default:
		return nil
	}
	out := make([]point, len(unit))
	for i, u := range unit {
		out[i] = point{n.x + u.x*n.w/2, n.y + u.y*n.h/2}
	}
	return out
}

// svgText writes a label centred on c, one <text> per line. A halo colour
// draws an outline of it under the glyphs.
func svgText(b *bytes.Buffer, t text, c point, halo, class string) {
	if t.empty() {
		return
	}
	fill := "black"
	if t.color != "" {
		fill = svgColor(t.color)
	}
	fmt.Fprintf(b, `<text text-anchor="middle" font-family="Helvetica,Arial,sans-serif" font-size="%s" fill="%s"`, num(t.size), esc(fill))
	if class != "" {
		fmt.Fprintf(b, ` class="%s"`, class)
	}
	if halo != "" {
		fmt.Fprintf(b, ` stroke="%s" stroke-width="3" stroke-linejoin="round" paint-order="stroke"`, esc(halo))
	}
	b.WriteString(">")
	for i, l := range t.lines {
		fmt.Fprintf(b, `<tspan x="%s" y="%s">%s</tspan>`, num(c.x), num(baseline(t, c, i)), esc(l))
	}
	b.WriteString("</text>\n")
}

// baseline is the y of line i of a label centred on c.
func baseline(t text, c point, i int) float64 {
	top := c.y - t.h/2
	return top + t.size*lineHeight*float64(i+1) - t.size*0.3
}

// pathData is an SVG path through the points: straight segments, or a
// smooth curve (Catmull-Rom, as cubic Béziers) through them.
func pathData(pts []point, curved bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%s,%s", num(pts[0].x), num(pts[0].y))
	if !curved {
		for _, p := range pts[1:] {
			fmt.Fprintf(&b, " L%s,%s", num(p.x), num(p.y))
		}
		return b.String()
	}
	for _, c := range curve(pts) {
		fmt.Fprintf(&b, " C%s,%s %s,%s %s,%s", num(c[0].x), num(c[0].y), num(c[1].x), num(c[1].y), num(c[2].x), num(c[2].y))
	}
	return b.String()
}

// curve turns a polyline into cubic Bézier segments (two control points
// and an end each) of the Catmull-Rom spline through its points.
func curve(pts []point) [][3]point {
	out := make([][3]point, 0, len(pts)-1)
	for i := 0; i+1 < len(pts); i++ {
		p0 := pts[max(i-1, 0)]
		p1, p2 := pts[i], pts[i+1]
		p3 := pts[min(i+2, len(pts)-1)]
		c1 := p1.add(p2.sub(p0).mul(1.0 / 6))
		c2 := p2.sub(p3.sub(p1).mul(1.0 / 6))
		out = append(out, [3]point{c1, c2, p2})
	}
	return out
}

// dashes are the dash patterns of the dashed and dotted styles, in points.
func dashes(style map[string]bool) []float64 {
	switch {
	case style["dashed"]:
		return []float64{5, 3}
	case style["dotted"]:
		return []float64{1, 3}
	}
	return nil
}

func dashAttr(style map[string]bool) string {
	d := dashes(style)
	if d == nil {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s,%s"`, num(d[0]), num(d[1]))
}

func strokeWidth(w float64) string {
	if w == 1 {
		return ""
	}
	return ` stroke-width="` + num(w) + `"`
}

// tooltip is the hover text of an element: its tooltip attribute with
// Graphviz's escapes read, else def.
func tooltip(v, def string) string {
	if v == "" {
		return def
	}
	return strings.Join(labelText(v, nil), "\n")
}

// num formats a coordinate with two decimals at most.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// esc escapes text for XML, replacing characters XML cannot hold.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
