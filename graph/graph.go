// Package graph draws a lab: it writes an annotated DOT file from a
// *topo.Lab and, optionally, the live state of the running lab, and lays it
// out and renders it as SVG or PNG in process, in Go: no Graphviz install.
//
// The annotated DOT file is itself a topo lab file that topo's parser reads
// back as the same topology (see Annotate). Layout engines follow
// Graphviz's by name and idea: dot (layered), neato (stress majorization),
// fdp (force-directed), circo (circular) and twopi (radial).
//
// Why not Graphviz compiled to WebAssembly (github.com/goccy/go-graphviz)?
// It compiles and instantiates its module in a package init, so every
// process of the topo binary would pay for it: every node init too (they
// are the topo binary). Measured here: 12 to 18 MB more private memory and
// 70 ms per process with a warm cache, about 1 s cold, and a cache of
// native code that root writes to and loads from a fixed /tmp path.
//
// Building the DOT file is pure; only Snapshot, which reads a running lab,
// touches the kernel.
package graph

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/topo-lab/topo/topo"
)

// Options say how to draw a lab.
type Options struct {
	// Layout is the Graphviz engine that places nodes: one of Layouts.
	// "" takes the lab's own layout attribute, else dot. A layout given
	// here is written into the DOT file, so that it is drawn the same way
	// again.
	Layout string
	// Stats adds each interface's packet and byte counters to its end of
	// the link. It needs live state.
	Stats bool
}

// Layouts are the engines Options.Layout takes: dot (layered, the
// default), neato (stress majorization, a spring model), circo (circular),
// fdp (force-directed), twopi (radial around the best-connected node).
var Layouts = []string{"dot", "neato", "circo", "fdp", "twopi"}

// CheckLayout returns an error naming the choices when layout is not ""
// and not one of Layouts.
func CheckLayout(layout string) error {
	if layout == "" || slices.Contains(Layouts, layout) {
		return nil
	}
	return fmt.Errorf("layout %q: use %s", layout, strings.Join(Layouts, ", "))
}

// Format is what Draw produces.
type Format string

// Formats.
const (
	SVG Format = "svg"
	PNG Format = "png"
	DOT Format = "dot"
)

// FormatOf returns the format a file name asks for by its extension: .svg,
// .png, or .dot (also .gv). "-" is DOT, for standard output.
func FormatOf(name string) (Format, error) {
	if name == "-" {
		return DOT, nil
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".svg":
		return SVG, nil
	case ".png":
		return PNG, nil
	case ".dot", ".gv":
		return DOT, nil
	}
	return "", fmt.Errorf("%s: the output's name must end in .svg, .png or .dot (or be - for DOT on stdout)", name)
}

// Annotate writes the lab as an annotated DOT file: a valid topo lab file
// (topo.Parse reads back the same nodes, kinds, links, interface names,
// addresses, impairments, routes, exec lines, mounts, images and settings)
// that also says how to draw it. st, when not nil, is the live state of the
// running lab: links that are down are drawn red and dashed, nodes whose
// init is gone grey, and with opt.Stats each end shows its counters.
//
// Interface names are written as ports only where topo's automatic naming
// (eth0, eth1, ... in link order) would not give them back, because
// Graphviz reads ports as places on a node and warns about unknown ones.
// Mounts and images are written as absolute paths, so the file means the
// same wherever it is read from.
func Annotate(lab *topo.Lab, st *State, opt Options) ([]byte, error) {
	if err := CheckLayout(opt.Layout); err != nil {
		return nil, err
	}
	if opt.Stats && st == nil {
		return nil, fmt.Errorf("counters (stats) need the live state of a running lab")
	}
	return writeDOT(newDoc(lab, st, opt)), nil
}

// Draw draws the lab in the format asked for: the annotated DOT file
// (Annotate), or a picture of it laid out and rendered in process as SVG or
// PNG. Layout and rendering are topo's own, in Go: they read the Graphviz
// attributes a picture needs (shape, style, color, fillcolor, fontcolor,
// fontsize, penwidth, label, taillabel, headlabel, tooltip, pos, rankdir,
// bgcolor) and ignore the rest. ctx cancels a long layout.
func Draw(ctx context.Context, lab *topo.Lab, st *State, opt Options, f Format) ([]byte, error) {
	if err := CheckLayout(opt.Layout); err != nil {
		return nil, err
	}
	if opt.Stats && st == nil {
		return nil, fmt.Errorf("counters (stats) need the live state of a running lab")
	}
	d := newDoc(lab, st, opt)
	switch f {
	case DOT:
		return writeDOT(d), nil
	case SVG, PNG:
	default:
		return nil, fmt.Errorf("format %q: use svg, png or dot", f)
	}
	if !slices.Contains(Layouts, d.engine) {
		return nil, fmt.Errorf("layout %q (the lab's layout attribute): use %s", d.engine, strings.Join(Layouts, ", "))
	}
	m := newMeasurer(1)
	s := newScene(d, m)
	if err := s.layout(ctx, m); err != nil {
		return nil, err
	}
	if f == SVG {
		return s.svg(), nil
	}
	return s.png()
}

// engineFor is the layout engine for a lab: the option, else the lab's
// layout attribute, else dot.
func engineFor(lab *topo.Lab, opt Options) string {
	if opt.Layout != "" {
		return opt.Layout
	}
	if l := lab.Attrs["layout"]; l != "" {
		return l
	}
	return "dot"
}
