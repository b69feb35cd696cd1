package graph

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/topo-lab/topo/topo"
)

// The annotated DOT file.
//
// It says two things at once. topo's own attributes (kind, exec, routes,
// tailip, mtu, ...) are written out in full from the typed lab, so that
// topo's parser reads back the same topology: every address is explicit,
// mounts and images are absolute, so the file means the same from any
// folder or from stdin. Everything else is for Graphviz and is ignored by
// topo: shapes and colours, the labels at link ends, impairments written on
// links.
//
// The user's own Graphviz attributes (kept in the Attrs maps) win over
// topo's look. A file written by topo graph carries topo's look in those
// same attributes, so each element's value is compared with every value
// topo graph could have drawn for it: a match is topo's and is drawn anew
// (the live state may have changed since), anything else is the user's.
// Live state is not a look: a link that is down is drawn red and dashed, a
// node whose init is gone grey, whatever colours the user chose.

// Colours, shapes and fonts.
const (
	fontName = "Helvetica"

	downColor = "#d62728" // a link that is down, label and line

	deadFill = "#e4e4e4" // a node whose init is gone
	deadLine = "#9a9a9a"
	deadFont = "#707070"
)

// looks are the node attributes by kind.
var looks = map[topo.Kind][]attr{
	topo.KindHost:   {{"shape", "box"}, {"style", "rounded,filled"}, {"fillcolor", "#dbe9f6"}, {"color", "#3b6ea5"}},
	topo.KindRouter: {{"shape", "ellipse"}, {"style", "filled"}, {"fillcolor", "#fde0c5"}, {"color", "#b5651d"}},
	topo.KindBridge: {{"shape", "box"}, {"style", "filled"}, {"fillcolor", "#d9f0d3"}, {"color", "#3f7f3a"}, {"height", "0.3"}},
}

// Defaults written once in node [...] and edge [...] statements.
var (
	nodeDefaults = []attr{{"fontname", fontName}, {"fontsize", "11"}}
	edgeDefaults = []attr{
		{"fontname", fontName}, {"fontsize", "9"}, {"fontcolor", "#8a4513"},
		{"labelfontsize", "8"}, {"labelfontcolor", "#24527a"}, {"color", "#555555"},
	}
)

type attr struct{ k, v string }

// attrs is an attribute list in the order it is written. A key may appear
// twice only where topo reads every occurrence (exec).
type attrs []attr

func (l *attrs) add(k, v string) { *l = append(*l, attr{k, v}) }

// set replaces the value of k, or adds it.
func (l *attrs) set(k, v string) {
	for i := range *l {
		if (*l)[i].k == k {
			(*l)[i].v = v
			return
		}
	}
	l.add(k, v)
}

func (l attrs) get(k string) (string, bool) {
	for _, a := range l {
		if a.k == k {
			return a.v, true
		}
	}
	return "", false
}

// ours lists, per attribute, every value topo graph may draw for one
// element: values in a lab's attributes that are among them are not the
// user's.
type ours map[string][]string

func (o ours) add(l ...attr) {
	for _, a := range l {
		if !slices.Contains(o[a.k], a.v) {
			o[a.k] = append(o[a.k], a.v)
		}
	}
}

func (o ours) has(k, v string) bool { return slices.Contains(o[k], v) }

// topoAttr reports whether topo reads the attribute itself: such
// attributes are written from the typed lab, never copied from Attrs.
func topoAttr(name string) bool {
	for _, a := range topo.Attributes {
		if a.Name == name {
			return true
		}
	}
	return false
}

// userAttrs returns the attributes of m that are the user's (neither
// topo's own nor among mine), sorted by name.
func userAttrs(m map[string]string, mine ours, ownEnd func(k, v string) bool) attrs {
	var out attrs
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if topoAttr(k) || mine.has(k, v) || ownEnd != nil && ownEnd(k, v) {
			continue
		}
		out.add(k, v)
	}
	return out
}

// doc is a lab ready to draw or to write as DOT: per element, topo's own
// attributes and the look, user's attributes and live state merged in.
type doc struct {
	name   string
	engine string
	// graph holds the graph's attributes, topo's first.
	graph attrs
	nodes []*docNode
	edges []*docEdge
}

type docNode struct {
	name string
	topo attrs // kind, exec, routes, ...
	look attrs // for drawing; nodeDefaults apply under it
}

type docEdge struct {
	tail, head string
	topo       attrs // ports, addresses, impairments
	look       attrs // for drawing; edgeDefaults apply under it
}

// builder makes the doc of one lab.
type builder struct {
	lab   *topo.Lab
	st    *State
	opt   Options
	nodes map[string]*topo.Node
	ports map[topo.Endpoint]bool
	d     *doc
}

func newDoc(lab *topo.Lab, st *State, opt Options) *doc {
	g := &builder{lab: lab, st: st, opt: opt, nodes: make(map[string]*topo.Node, len(lab.Nodes))}
	g.d = &doc{name: lab.Name, engine: engineFor(lab, opt)}
	for _, n := range lab.Nodes {
		g.nodes[n.Name] = n
	}
	g.ports = needPorts(lab)
	g.header()
	for _, n := range lab.Nodes {
		g.node(n)
	}
	for _, l := range lab.Links {
		g.link(l)
	}
	return g.d
}

func (g *builder) header() {
	lab := g.lab
	var a attrs
	if lab.Subnet.IsValid() {
		a.add("subnet", lab.Subnet.String())
	} else {
		a.add("subnet", "none")
	}
	if lab.Subnet6.IsValid() {
		a.add("subnet6", lab.Subnet6.String())
	}
	mine := g.graphLook()
	all := ours{}
	all.add(mine...)
	user := userAttrs(lab.Attrs, all, nil)
	if g.opt.Layout != "" {
		user.set("layout", g.opt.Layout)
		slices.SortStableFunc(user, func(a, b attr) int { return strings.Compare(a.k, b.k) })
	}
	for _, m := range mine {
		if _, ok := user.get(m.k); !ok {
			a.add(m.k, m.v)
		}
	}
	g.d.graph = append(a, user...)
}

// graphLook is topo's graph attributes.
func (g *builder) graphLook() []attr {
	return []attr{{"outputorder", "edgesfirst"}, {"fontname", fontName}}
}

func (g *builder) node(n *topo.Node) {
	var a attrs
	a.add("kind", string(n.Kind))
	for _, e := range n.Exec {
		a.add("exec", e)
	}
	if len(n.Routes) > 0 {
		rs := make([]string, len(n.Routes))
		for i, r := range n.Routes {
			rs[i] = routeText(r)
		}
		a.add("routes", strings.Join(rs, ", "))
	}
	if len(n.Mounts) > 0 {
		ms := make([]string, len(n.Mounts))
		for i, m := range n.Mounts {
			ms[i] = m.Src + ":" + m.Dst
			if m.ReadOnly {
				ms[i] += ":ro"
			}
		}
		a.add("mounts", strings.Join(ms, ", "))
	}
	if n.Image != "" {
		a.add("image", n.Image)
	}
	if n.UserNS {
		a.add("userns", "true")
	}
	if len(n.Env) > 0 {
		a.add("env", strings.Join(n.Env, ", "))
	}
	if len(n.Sysctls) > 0 {
		ss := make([]string, len(n.Sysctls))
		for i, s := range n.Sysctls {
			ss[i] = s.Key + "=" + s.Value
		}
		a.add("sysctl", strings.Join(ss, ", "))
	}

	look := attrs(slices.Clone(looks[n.Kind]))
	if look == nil {
		look = slices.Clone(looks[topo.KindHost])
	}
	look.add("tooltip", nodeTooltip(n))
	dead := attrs{{"fillcolor", deadFill}, {"color", deadLine}, {"fontcolor", deadFont}}
	deadTip := nodeTooltip(n) + lineBreak + "init gone: the node is not running"

	mine := ours{}
	mine.add(nodeDefaults...)
	mine.add(look...)
	mine.add(dead...)
	mine.add(attr{"tooltip", deadTip})
	for _, u := range userAttrs(n.Attrs, mine, nil) {
		look.set(u.k, u.v)
	}
	if g.st.dead(n.Name) {
		for _, d := range dead {
			look.set(d.k, d.v)
		}
		look.set("tooltip", deadTip)
	}
	g.d.nodes = append(g.d.nodes, &docNode{name: n.Name, topo: a, look: look})
}

// routeText is a route as topo's parser reads it back.
func routeText(r topo.Route) string {
	if r.Text != "" {
		return r.Text
	}
	var b strings.Builder
	if r.Dst.Bits() == 0 && r.Via.IsValid() {
		b.WriteString("default")
	} else if r.Dst.IsSingleIP() {
		b.WriteString(r.Dst.Addr().String())
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.Itoa(r.Metric))
	}
	return b.String()
}

// nodeTooltip says what a node is and does, for the SVG's hover text.
func nodeTooltip(n *topo.Node) string {
	lines := []string{string(n.Kind) + " " + n.Name}
	for _, r := range n.Routes {
		lines = append(lines, "route "+routeText(r))
	}
	for _, e := range n.Exec {
		lines = append(lines, "exec "+shorten(e, 60))
	}
	for i, l := range lines {
		lines[i] = escapeText(l)
	}
	return strings.Join(lines, lineBreak)
}

func (g *builder) iface(ep topo.Endpoint) *topo.Iface {
	if n := g.nodes[ep.Node]; n != nil {
		return n.Iface(ep.Iface)
	}
	return nil
}

func (g *builder) link(l *topo.Link) {
	ai, bi := g.iface(l.A), g.iface(l.B)
	var aAddrs, bAddrs []netip.Prefix
	if ai != nil {
		aAddrs = ai.Addrs
	}
	if bi != nil {
		bAddrs = bi.Addrs
	}

	var a attrs
	if g.ports[l.A] {
		a.add("tailport", l.A.Iface)
	}
	if g.ports[l.B] {
		a.add("headport", l.B.Iface)
	}
	if len(aAddrs) > 0 {
		a.add("tailip", joinPrefixes(aAddrs))
	}
	if len(bAddrs) > 0 {
		a.add("headip", joinPrefixes(bAddrs))
	}
	if l.MTU > 0 {
		a.add("mtu", strconv.Itoa(l.MTU))
	}
	if l.Delay > 0 {
		a.add("delay", duration(l.Delay))
	}
	if l.Jitter > 0 {
		a.add("jitter", duration(l.Jitter))
	}
	if l.Loss > 0 {
		a.add("loss", percent(l.Loss))
	}
	if l.Rate > 0 {
		a.add("rate", topo.FormatRate(l.Rate))
	}
	// Impairments the parser does not read (yet) are written only when
	// it does, so that the file stays valid.
	for _, x := range []struct {
		name string
		v    string
		set  bool
	}{
		{"duplicate", percent(l.Duplicate), l.Duplicate > 0},
		{"corrupt", percent(l.Corrupt), l.Corrupt > 0},
		{"reorder", percent(l.Reorder), l.Reorder > 0},
		{"limit", strconv.Itoa(l.Limit), l.Limit > 0},
	} {
		if x.set && topoAttr(x.name) {
			a.add(x.name, x.v)
		}
	}
	if l.Down {
		a.add("state", "down")
	}

	// What the live state says about each end and the link.
	as, aStats := g.st.end(l.A.Node, l.A.Iface)
	bs, bStats := g.st.end(l.B.Node, l.B.Iface)
	down := l.Down
	if as != endUnknown || bs != endUnknown {
		down = as != endUp && as != endUnknown || bs != endUp && bs != endUnknown
	}

	look := attrs{
		{"taillabel", endLabel(l.A.Iface, endMark(as), aAddrs)},
		{"headlabel", endLabel(l.B.Iface, endMark(bs), bAddrs)},
	}
	if t := impairText(l, down); t != "" {
		look.add("label", t)
	}
	look.add("tooltip", linkTooltip(l, aAddrs, bAddrs))

	mine := ours{}
	mine.add(edgeDefaults...)
	mine.add(look...)
	mine.add(attr{"label", impairText(l, false)}, attr{"label", impairText(l, true)})
	mine.add(attr{"color", downColor}, attr{"fontcolor", downColor}, attr{"style", "dashed"})
	own := func(k, v string) bool {
		switch k {
		case "taillabel":
			return ownEndLabel(v, l.A.Iface, aAddrs)
		case "headlabel":
			return ownEndLabel(v, l.B.Iface, bAddrs)
		}
		return false
	}
	for _, u := range userAttrs(l.Attrs, mine, own) {
		look.set(u.k, u.v)
	}
	if down {
		look.set("color", downColor)
		look.set("fontcolor", downColor)
		look.set("style", "dashed")
	}
	if g.opt.Stats {
		for _, e := range []struct {
			key string
			st  *IfaceState
		}{{"taillabel", aStats}, {"headlabel", bStats}} {
			if e.st != nil {
				v, _ := look.get(e.key)
				look.set(e.key, v+lineBreak+statsText(e.st.Counters))
			}
		}
	}
	g.d.edges = append(g.d.edges, &docEdge{tail: l.A.Node, head: l.B.Node, topo: a, look: look})
}

func endMark(s endState) string {
	switch s {
	case endAdminDown:
		return markAdminDown
	case endMissing:
		return markMissing
	}
	return ""
}

// linkTooltip names both ends and the impairments, for the SVG's hover
// text: it says everything even where the user's labels replace topo's.
func linkTooltip(l *topo.Link, a, b []netip.Prefix) string {
	end := func(ep topo.Endpoint, addrs []netip.Prefix) string {
		s := ep.String()
		if len(addrs) > 0 {
			s += " " + joinPrefixes(addrs)
		}
		return s
	}
	t := end(l.A, a) + " -- " + end(l.B, b)
	if im := impairText(l, l.Down); im != "" {
		t += lineBreak + im
	}
	return t
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// needPorts returns the link ends whose interface names must be written
// out. topo names unnamed ends eth0, eth1, ... per node in link order,
// skipping the names a file writes; an end whose name that rule gives back
// needs no port. Ports are written only where needed because Graphviz reads
// them as places on the node's shape and warns, for every end, about names
// it does not know.
func needPorts(lab *topo.Lab) map[topo.Endpoint]bool {
	explicit := map[topo.Endpoint]bool{}
	// Walk the ends in link order as the parser names them; the first end
	// whose name the rule does not give must be written, which changes
	// what the rule gives the ends after it: walk again.
	for {
		written := map[string]map[string]bool{}
		for ep := range explicit {
			if written[ep.Node] == nil {
				written[ep.Node] = map[string]bool{}
			}
			written[ep.Node][ep.Iface] = true
		}
		next := map[string]int{}
		auto := func(node string) string {
			for {
				name := "eth" + strconv.Itoa(next[node])
				next[node]++
				if !written[node][name] {
					return name
				}
			}
		}
		mismatch := false
		for _, l := range lab.Links {
			for _, ep := range []topo.Endpoint{l.A, l.B} {
				if !explicit[ep] && auto(ep.Node) != ep.Iface {
					explicit[ep] = true
					mismatch = true
					break
				}
			}
			if mismatch {
				break
			}
		}
		if !mismatch {
			return explicit
		}
	}
}
