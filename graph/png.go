package graph

import (
	"bytes"
	"image/color"
	"math"

	"github.com/fogleman/gg"
)

// PNG size: two pixels per point (144 dpi), less for drawings so large that
// the image would pass maxPixels or maxSide.
const (
	pngScale  = 2.0
	maxPixels = 24e6
	maxSide   = 16384
)

// png rasterises the laid-out scene, in the same order and colours as the
// SVG.
func (s *scene) png() ([]byte, error) {
	scale := pngScale
	if px := s.w * s.h * scale * scale; px > maxPixels {
		scale = math.Sqrt(maxPixels / (s.w * s.h))
	}
	scale = math.Min(scale, maxSide/math.Max(s.w, s.h))
	w, h := max(1, int(math.Ceil(s.w*scale))), max(1, int(math.Ceil(s.h*scale)))
	r := &raster{dc: gg.NewContext(w, h), s: scale, m: newMeasurer(scale)}

	bg := color.NRGBA{255, 255, 255, 255}
	halo := bg
	if s.bg != "" {
		if c := parseColor(s.bg); c.ok {
			bg = c.c
			if c.c.A == 255 {
				halo = c.c
			}
		}
	}
	r.dc.SetColor(bg)
	r.dc.Clear()

	for _, e := range s.edges {
		if e.style["invis"] || len(e.pts) < 2 {
			continue
		}
		r.path(e.pts, e.curved)
		r.stroke(e.color, e.penwidth, e.style)
	}
	for _, n := range s.nodes {
		if n.style["invis"] {
			continue
		}
		r.shape(n)
		r.text(n.label, n.center(), nil)
	}
	for _, e := range s.edges {
		if e.style["invis"] {
			continue
		}
		r.text(e.label, e.labelAt, &halo)
		r.text(e.tail, e.tailAt, &halo)
		r.text(e.head, e.headAt, &halo)
	}
	if !s.label.empty() {
		r.text(s.label, point{s.w / 2, s.h - margin - s.label.h/2}, nil)
	}
	var b bytes.Buffer
	if err := r.dc.EncodePNG(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// raster draws in points on a gg context in pixels.
type raster struct {
	dc *gg.Context
	s  float64
	m  *measurer
}

func (r *raster) path(pts []point, curved bool) {
	r.dc.ClearPath()
	r.dc.MoveTo(pts[0].x*r.s, pts[0].y*r.s)
	if !curved {
		for _, p := range pts[1:] {
			r.dc.LineTo(p.x*r.s, p.y*r.s)
		}
		return
	}
	for _, c := range curve(pts) {
		r.dc.CubicTo(c[0].x*r.s, c[0].y*r.s, c[1].x*r.s, c[1].y*r.s, c[2].x*r.s, c[2].y*r.s)
	}
}

func (r *raster) stroke(col string, width float64, style map[string]bool) {
	r.dc.SetColor(pngColor(col))
	r.dc.SetLineWidth(width * r.s)
	if d := dashes(style); d != nil {
		r.dc.SetDash(d[0]*r.s, d[1]*r.s)
	} else {
		r.dc.SetDash()
	}
	r.dc.Stroke()
	r.dc.SetDash()
}

func (r *raster) shape(n *snode) {
	if n.shape == "plaintext" || n.shape == "plain" || n.shape == "none" {
		return
	}
	outline := func() {
		s := r.s
		r.dc.ClearPath()
		switch n.shape {
		case "ellipse", "oval", "circle", "point", "doublecircle":
			r.dc.DrawEllipse(n.x*s, n.y*s, n.w/2*s, n.h/2*s)
		default:
			if pts := polygon(n); pts != nil {
				r.dc.MoveTo(pts[0].x*s, pts[0].y*s)
				for _, p := range pts[1:] {
					r.dc.LineTo(p.x*s, p.y*s)
				}
				r.dc.ClosePath()
				return
			}
			x, y := (n.x-n.w/2)*s, (n.y-n.h/2)*s
			if n.style["rounded"] {
				r.dc.DrawRoundedRectangle(x, y, n.w*s, n.h*s, 6*s)
			} else {
				r.dc.DrawRectangle(x, y, n.w*s, n.h*s)
			}
		}
	}
	if fill := parseColor(n.fill); n.fill != "none" && fill.c.A > 0 {
		outline()
		r.dc.SetColor(pngColor(n.fill))
		r.dc.Fill()
	}
	outline()
	r.stroke(n.line, n.penwidth, n.style)
	if n.shape == "doublecircle" {
		r.dc.ClearPath()
		r.dc.DrawEllipse(n.x*r.s, n.y*r.s, (n.w/2-4)*r.s, (n.h/2-4)*r.s)
		r.stroke(n.line, n.penwidth, nil)
	}
}

// text draws a label centred on c; with a halo, first an outline of it in
// that colour.
func (r *raster) text(t text, c point, halo *color.NRGBA) {
	if t.empty() {
		return
	}
	r.dc.SetFontFace(r.m.face(t.size))
	draw := func(dx, dy float64) {
		for i, l := range t.lines {
			r.dc.DrawStringAnchored(l, c.x*r.s+dx, baseline(t, c, i)*r.s+dy, 0.5, 0)
		}
	}
	if halo != nil {
		r.dc.SetColor(*halo)
		d := 1.2 * r.s
		for _, o := range [][2]float64{{-d, 0}, {d, 0}, {0, -d}, {0, d}, {-d, -d}, {d, d}, {-d, d}, {d, -d}} {
			draw(o[0], o[1])
		}
	}
	col := "black"
	if t.color != "" {
		col = t.color
	}
	r.dc.SetColor(pngColor(col))
	draw(0, 0)
}

// pngColor is a colour for the rasteriser: unknown names draw black.
func pngColor(v string) color.Color {
	if c := parseColor(v); c.ok {
		return c.c
	}
	return color.Black
}
