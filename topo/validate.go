package topo

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ValidationError lists every problem found in a topology file, in the
// order of their lines. cmd/ maps it to exit status 2.
type ValidationError struct {
	// File is the file as the user named it ("stdin" for standard input).
	File     string
	Problems []Problem
}

// Problem is one thing wrong with a topology file.
type Problem struct {
	// Line is the 1-based line of the file, 0 if unknown.
	Line int
	// Col is the 1-based column, known for syntax errors only (else 0).
	Col int
	// Where names the object: `node "r1"`, `edge h1--r1`, `graph`; "" for
	// syntax errors.
	Where string
	// Msg says what is wrong and what to write instead.
	Msg string
}

// Format renders the problem the way compilers do, e.g.
// `lab.dot:12: node "r1": unknown kind "rooter": use kind=host, router or bridge`.
func (p Problem) Format(file string) string {
	var b strings.Builder
	b.WriteString(file)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteString(":" + strconv.Itoa(p.Col))
		}
	}
	b.WriteString(": ")
	if p.Where != "" {
		b.WriteString(p.Where + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Format(e.File)
	}
	if len(lines) == 0 {
		return e.File + ": invalid topology"
	}
	return strings.Join(lines, "\n")
}

// problems collects what is wrong with a file.
type problems struct {
	file string
	list []Problem
}

func (p *problems) add(line int, where, format string, args ...any) {
	p.list = append(p.list, Problem{Line: line, Where: where, Msg: fmt.Sprintf(format, args...)})
}

// maxSameProblem bounds how often one message is repeated: a bad value in
// "edge [...]" defaults is wrong on every edge, and saying so a thousand
// times helps nobody.
const (
	maxSameProblem = 3
	maxProblems    = 100
)

func (p *problems) err() error {
	list := slices.Clone(p.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		// Unknown lines last.
		return cmp.Compare(uint(a.Line-1), uint(b.Line-1))
	})
	seen := map[string]int{}
	var out []Problem
	more := 0
	for _, pr := range list {
		seen[pr.Msg]++
		if seen[pr.Msg] > maxSameProblem {
			continue
		}
		if len(out) == maxProblems {
			more++
			continue
		}
		out = append(out, pr)
	}
	for _, n := range seen {
		more += max(n-maxSameProblem, 0)
	}
	if more > 0 {
		out = append(out, Problem{Msg: fmt.Sprintf("... and %d more problems like the ones above", more)})
	}
	return &ValidationError{File: p.file, Problems: out}
}

// maxNameLen is the hostname limit: a node's name becomes its hostname.
const maxNameLen = 63

// maxIfaceLen is IFNAMSIZ minus the terminating NUL.
const maxIfaceLen = 15

func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func ifaceNameProblem(s string) string {
	switch {
	case s == "lo":
		return `"lo" is the loopback interface every node already has: choose another name`
	case !validName(s, maxIfaceLen):
		return fmt.Sprintf("interface name %q: use letters, digits, - and _, at most %d bytes", s, maxIfaceLen)
	}
	return ""
}

// resolver turns a raw lab into a typed, validated one.
type resolver struct {
	lab  *Lab
	p    *problems
	raw  *rawLab
	node map[string]*Node
	// routes waiting for addresses to be known, per node.
	routes map[*Node][]pendingRoute
	ends   []*linkEnds
	// blocked is set by problems that leave interfaces or addresses
	// unknown: then addresses are not planned and routes' gateways not
	// checked, which would only add confusing follow-up errors.
	blocked bool
}

type pendingRoute struct {
	route Route
	line  int
}

// linkEnds is a link with its two interfaces, while resolving.
type linkEnds struct {
	link         *Link
	an, bn       *Node
	a, b         *Iface
	aAddr, bAddr []netip.Prefix // explicit
	aSet, bSet   bool           // interface named in the file
	where        string
}

func resolve(raw *rawLab, file, name string, p *problems) *Lab {
	lab := &Lab{Attrs: raw.attrs}
	r := &resolver{lab: lab, p: p, raw: raw, node: map[string]*Node{}, routes: map[*Node][]pendingRoute{}}

	if file == "" || file == "-" {
		dir, err := os.Getwd()
		if err != nil {
			p.add(0, "", "cannot find the current folder to resolve relative paths against: %v", err)
		}
		lab.Dir = dir
	} else {
		abs, err := filepath.Abs(file)
		if err != nil {
			p.add(0, "", "cannot make %s absolute: %v", file, err)
		}
		lab.File = abs
		lab.Dir = filepath.Dir(abs)
	}

	lab.Name = r.labName(file, name)
	r.subnets()
	r.nodes()
	r.links()
	r.ifaces()
	r.explicitAddrs()
	planned := false
	if !r.blocked {
		planned = planAddresses(lab, r.ends, p, func(v4 bool) int {
			k := "subnet6"
			if v4 {
				k = "subnet"
			}
			if l := r.raw.attrLine[k]; l > 0 {
				return l
			}
			return r.raw.graphLine
		})
	}
	r.checkRoutes(planned)
	if planned {
		r.checkMTUs()
	}
	AssignMACs(lab)
	return lab
}

func (r *resolver) labName(file, name string) string {
	graphLine := r.raw.graphLine
	const rule = "use letters, digits, - and _, at most 63 bytes"
	switch {
	case name != "":
		if !validName(name, maxNameLen) {
			r.p.add(0, "", "lab name %q (from --name): %s", name, rule)
		}
		return name
	case r.raw.graphID != "":
		if !validName(r.raw.graphID, maxNameLen) {
			r.p.add(graphLine, "graph", "lab name %q (the graph ID): %s, or pass --name", r.raw.graphID, rule)
		}
		return r.raw.graphID
	case file == "" || file == "-":
		r.p.add(graphLine, "graph", "a lab read from stdin needs a name: write graph NAME { ... } or use --name")
		return ""
	}
	base := filepath.Base(file)
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".dot"), ".gv")
	if !validName(base, maxNameLen) {
		r.p.add(graphLine, "graph", "lab name %q (from the file name): %s; write graph NAME { ... } or use --name", base, rule)
	}
	return base
}

// defaultSubnet is the IPv4 pool when the file sets none.
var defaultSubnet = netip.MustParsePrefix("10.0.0.0/16")

func (r *resolver) subnets() {
	line := func(k string) int {
		if l := r.raw.attrLine[k]; l > 0 {
			return l
		}
		return r.raw.graphLine
	}
	r.lab.Subnet = defaultSubnet
	if s, ok := r.raw.attrs["subnet"]; ok {
		r.lab.Subnet = r.pool(s, false, line("subnet"))
	}
	if s, ok := r.raw.attrs["subnet6"]; ok {
		r.lab.Subnet6 = r.pool(s, true, line("subnet6"))
	}
}

func (r *resolver) pool(s string, v6 bool, line int) netip.Prefix {
	key, maxBits, example := "subnet", 30, "10.0.0.0/16"
	if v6 {
		key, maxBits, example = "subnet6", 120, "fd00::/48"
	}
	s = strings.TrimSpace(s)
	if s == "none" || s == "off" || s == "" {
		return netip.Prefix{}
	}
	pr, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		r.p.add(line, "graph", "%s %q is not a prefix: write e.g. %s=%q, or %s=none", key, s, key, example, key)
	case pr.Addr().Is6() != v6 || pr.Addr().Is4In6():
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		r.p.add(line, "graph", "%s %q must be an %s prefix, e.g. %s", key, s, fam, example)
	case pr != pr.Masked():
		r.p.add(line, "graph", "%s %q has host bits set: write %s", key, s, pr.Masked())
	case pr.Bits() > maxBits:
		r.p.add(line, "graph", "%s %q is too small to hand out links: use /%d or shorter", key, s, maxBits)
	default:
		return pr
	}
	return netip.Prefix{}
}

func (r *resolver) attrLine(n *rawNode, key string) int {
	if l := n.attrLine[key]; l > 0 {
		return l
	}
	return n.line
}

func (r *resolver) nodes() {
	for _, rn := range r.raw.nodes {
		where := fmt.Sprintf("node %q", rn.name)
		if !validName(rn.name, maxNameLen) {
			r.p.add(rn.line, where, "invalid name: use letters, digits, - and _, at most %d bytes", maxNameLen)
		}
		n := &Node{Name: rn.name, Kind: KindHost, Attrs: rn.attrs}
		r.node[rn.name] = n
		r.lab.Nodes = append(r.lab.Nodes, n)
		a := rn.attrs

		if k, ok := a["kind"]; ok {
			switch k {
			case "host", "":
				n.Kind = KindHost
			case "router":
				n.Kind = KindRouter
			case "bridge", "switch":
				n.Kind = KindBridge
			default:
				r.p.add(r.attrLine(rn, "kind"), where, "unknown kind %q: use kind=host, router or bridge", k)
			}
		}
		for _, e := range rn.exec {
			for _, l := range strings.Split(e, "\n") {
				if l = strings.TrimSpace(strings.TrimSuffix(l, "\r")); l != "" {
					n.Exec = append(n.Exec, l)
				}
			}
		}
		if v, ok := a["userns"]; ok {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "yes", "on", "1":
				n.UserNS = true
			case "false", "no", "off", "0":
			default:
				r.p.add(r.attrLine(rn, "userns"), where, "userns %q: write userns=true or userns=false", v)
			}
		}
		if v, ok := a["image"]; ok {
			n.Image = r.image(v, r.attrLine(rn, "image"), where)
		}
		if v, ok := a["clockoffset"]; ok {
			d, err := parseOffset(v)
			if err != nil {
				r.p.add(r.attrLine(rn, "clockoffset"), where, "clockoffset %q: %v", v, err)
			}
			n.ClockOffset = d
		}
		if v, ok := a["mounts"]; ok {
			n.Mounts = r.mounts(v, r.attrLine(rn, "mounts"), where)
		}
		if v, ok := a["env"]; ok {
			n.Env = r.env(v, r.attrLine(rn, "env"), where)
		}
		if v, ok := a["sysctl"]; ok {
			n.Sysctls = r.sysctls(v, r.attrLine(rn, "sysctl"), where)
		}
		if v, ok := a["routes"]; ok {
			line := r.attrLine(rn, "routes")
			if n.Kind == KindBridge && strings.TrimSpace(v) != "" {
				r.p.add(line, where, "a bridge takes no routes (it has no address): put routes on the hosts and routers attached to it")
				continue
			}
			for _, t := range splitList(v) {
				rt, msg := parseRoute(t)
				if msg != "" {
					r.p.add(line, where, "route %q: %s", t, msg)
					continue
				}
				r.routes[n] = append(r.routes[n], pendingRoute{rt, line})
			}
		}
	}
}

// splitList splits a comma-separated value, trimming space and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (r *resolver) image(v string, line int, where string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	p := v
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.lab.Dir, p)
	}
	if _, err := os.Stat(p); err != nil {
		r.p.add(line, where, "image %q: %s does not exist (relative paths start at the DOT file's folder)", v, p)
	}
	return p
}

func (r *resolver) mounts(v string, line int, where string) []Mount {
	var out []Mount
	for _, item := range splitList(v) {
		parts := strings.Split(item, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			r.p.add(line, where, "mount %q: write src:dst or src:dst:ro", item)
			continue
		}
		m := Mount{Src: parts[0], Dst: parts[1]}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				r.p.add(line, where, "mount %q: the third field is ro or rw, not %q", item, parts[2])
				continue
			}
		}
		if !filepath.IsAbs(m.Src) {
			m.Src = filepath.Join(r.lab.Dir, m.Src)
			if rel, err := filepath.Rel(r.lab.Dir, m.Src); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				r.p.add(line, where, "mount %q: source %s leaves the DOT file's folder: write an absolute path if you mean it", item, parts[0])
				continue
			}
		}
		if _, err := os.Stat(m.Src); err != nil {
			r.p.add(line, where, "mount %q: source %s does not exist (relative sources start at the DOT file's folder)", item, m.Src)
			continue
		}
		if !filepath.IsAbs(m.Dst) {
			r.p.add(line, where, "mount %q: the destination %q must be absolute, e.g. /%s", item, m.Dst, strings.TrimLeft(m.Dst, "./"))
			continue
		}
		m.Dst = filepath.Clean(m.Dst)
		if m.Dst == "/" {
			r.p.add(line, where, "mount %q: mounting over / hides the node's whole file system: use image= for a root file system", item)
			continue
		}
		out = append(out, m)
	}
	return out
}

func isShellIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (r *resolver) env(v string, line int, where string) []string {
	var out []string
	for _, item := range splitList(v) {
		k, val, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || !isShellIdent(k) {
			r.p.add(line, where, "env %q: write KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit)", item)
			continue
		}
		out = append(out, k+"="+val)
	}
	return out
}

func (r *resolver) sysctls(v string, line int, where string) []Sysctl {
	var out []Sysctl
	for _, item := range splitList(v) {
		k, val, ok := strings.Cut(item, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || val == "" {
			r.p.add(line, where, "sysctl %q: write key=value, e.g. net.ipv4.tcp_ecn=1", item)
			continue
		}
		key, msg := normSysctlKey(k)
		if msg != "" {
			r.p.add(line, where, "sysctl %q: %s", item, msg)
			continue
		}
		out = append(out, Sysctl{Key: key, Value: val})
	}
	return out
}

// normSysctlKey turns "net/ipv4/ip_forward" (or /proc/sys/net/...) into
// "net.ipv4.ip_forward" and refuses keys that could name a path outside
// /proc/sys.
func normSysctlKey(k string) (string, string) {
	k = strings.TrimPrefix(k, "/proc/sys/")
	if strings.Contains(k, "/") {
		k = strings.ReplaceAll(k, "/", ".")
	}
	for _, part := range strings.Split(k, ".") {
		if part == "" {
			return "", "the key has an empty part (.. or a leading or trailing dot): write e.g. net.ipv4.ip_forward"
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return "", fmt.Sprintf("the key has %q: use letters, digits, _ and -, parts separated by dots", c)
			}
		}
	}
	return k, ""
}

// parseRoute parses one route in ip route syntax; msg is "" when it is
// valid. Whether dev and via fit the node is checked later.
func parseRoute(text string) (rt Route, msg string) {
	rt.Text = text
	f := strings.Fields(text)
	isDefault := false
	switch {
	case f[0] == "default":
		isDefault = true
	case strings.Contains(f[0], "/"):
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			return rt, fmt.Sprintf("%q is not a prefix: write e.g. 10.0.2.0/24", f[0])
		}
		if p != p.Masked() {
			return rt, fmt.Sprintf("%s has host bits set: write %s", f[0], p.Masked())
		}
		rt.Dst = p
	default:
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.Zone() != "" {
			return rt, fmt.Sprintf("%q is not a destination: write a prefix (10.0.2.0/24), an address or default", f[0])
		}
		rt.Dst = netip.PrefixFrom(a, a.BitLen())
	}
	const syntax = "a route is PREFIX|ADDR|default [via ADDR] [dev IFACE] [metric N]"
	seen := map[string]bool{}
	for i := 1; i < len(f); i += 2 {
		kw := f[i]
		if kw != "via" && kw != "dev" && kw != "metric" {
			return rt, fmt.Sprintf("unexpected %q: %s", kw, syntax)
		}
		if seen[kw] {
			return rt, fmt.Sprintf("%s given twice", kw)
		}
		seen[kw] = true
		if i+1 >= len(f) {
			return rt, fmt.Sprintf("%s needs a value: %s", kw, syntax)
		}
		v := f[i+1]
		switch kw {
		case "via":
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return rt, fmt.Sprintf("via %q is not an address (name the interface with dev)", v)
			}
			rt.Via = a.Unmap()
		case "dev":
			rt.Dev = v
			if !validName(v, maxIfaceLen) {
				return rt, fmt.Sprintf("dev %q is not an interface name", v)
			}
		case "metric":
			m, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return rt, fmt.Sprintf("metric %q: write a whole number from 0 to 4294967295", v)
			}
			rt.Metric = int(m)
		}
	}
	if isDefault {
		switch {
		case rt.Via.Is4():
			rt.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		case rt.Via.Is6():
			rt.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		default:
			return rt, "default needs via ADDR (the gateway, which also says whether it is the IPv4 or the IPv6 default)"
		}
	}
	if !rt.Via.IsValid() && rt.Dev == "" {
		return rt, "needs via ADDR or dev IFACE"
	}
	if rt.Via.IsValid() && rt.Via.Is4() != rt.Dst.Addr().Is4() {
		return rt, fmt.Sprintf("via %s and destination %s are not the same IP version", rt.Via, rt.Dst)
	}
	if rt.Via.IsValid() && (rt.Via.IsUnspecified() || rt.Via.IsMulticast()) {
		return rt, fmt.Sprintf("via %s cannot be a gateway", rt.Via)
	}
	return rt, ""
}

// links turns edges into links: strict merging, self-loops, ports,
// impairments, explicit addresses.
func (r *resolver) links() {
	edges := r.raw.edges
	if r.raw.strict {
		edges = mergeStrict(edges, r.raw.directed)
	}
	for _, e := range edges {
		where := e.where()
		if e.tail == e.head {
			r.p.add(e.line, where, "a link from %s to itself: connect two different nodes", e.tail)
			continue
		}
		an, bn := r.node[e.tail], r.node[e.head]
		if an == nil || bn == nil {
			continue // cannot happen: every endpoint is mentioned
		}
		l := &Link{A: Endpoint{Node: e.tail}, B: Endpoint{Node: e.head}, Line: e.line, Attrs: e.attrs}
		le := &linkEnds{link: l, an: an, bn: bn, where: where}
		l.A.Iface, le.aSet = r.port(e, e.tailPort, e.tailCompass, "tailport", e.tail)
		l.B.Iface, le.bSet = r.port(e, e.headPort, e.headCompass, "headport", e.head)
		r.impair(e, l)
		le.aAddr = r.addrs(e, "tailip", an)
		le.bAddr = r.addrs(e, "headip", bn)
		r.lab.Links = append(r.lab.Links, l)
		r.ends = append(r.ends, le)
	}
}

// mergeStrict merges edges between the same nodes, as a strict graph
// means: later attributes win, the line is the first edge's.
func mergeStrict(edges []*rawEdge, directed bool) []*rawEdge {
	type key struct{ a, b string }
	seen := map[key]*rawEdge{}
	var out []*rawEdge
	for _, e := range edges {
		k := key{e.tail, e.head}
		reversed := false
		if _, ok := seen[k]; !ok && !directed {
			if _, ok := seen[key{e.head, e.tail}]; ok {
				k, reversed = key{e.head, e.tail}, true
			}
		}
		first, ok := seen[k]
		if !ok {
			seen[k] = e
			out = append(out, e)
			continue
		}
		tp, hp, tc, hc := e.tailPort, e.headPort, e.tailCompass, e.headCompass
		attrs := e.attrs
		if reversed {
			tp, hp, tc, hc = hp, tp, hc, tc
			attrs = make(map[string]string, len(e.attrs))
			swap := map[string]string{"tailip": "headip", "headip": "tailip", "tailport": "headport", "headport": "tailport"}
			for k, v := range e.attrs {
				if s, ok := swap[k]; ok {
					k = s
				}
				attrs[k] = v
			}
		}
		if tp != "" {
			first.tailPort, first.tailCompass = tp, tc
		}
		if hp != "" {
			first.headPort, first.headCompass = hp, hc
		}
		for k, v := range attrs {
			first.attrs[k] = v
		}
	}
	return out
}

// port returns the interface named for one end of an edge, "" when the
// file names none.
func (r *resolver) port(e *rawEdge, port, compass, attr, node string) (string, bool) {
	where := e.where()
	v, hasAttr := e.attrs[attr]
	if port != "" && hasAttr && v != port {
		r.p.add(e.line, where, "%s:%s and %s=%s name different interfaces: keep one", node, port, attr, v)
	}
	if compass != "" {
		r.p.add(e.line, where, "%s:%s:%s: topo reads the port as an interface name; drop the compass point :%s", node, port, compass, compass)
	}
	if port == "" {
		port = v
	}
	if port == "" {
		return "", false
	}
	if m := ifaceNameProblem(port); m != "" {
		r.p.add(e.line, where, "%s: %s", node, m)
	}
	return port, true
}

func (r *resolver) impair(e *rawEdge, l *Link) {
	where, a := e.where(), e.attrs
	if v, ok := a["delay"]; ok {
		d, err := ParseDelay(v)
		if err != nil {
			r.p.add(e.line, where, "delay %v", err)
		}
		l.Delay = d
	}
	if v, ok := a["jitter"]; ok {
		d, err := ParseDelay(v)
		if err != nil {
			r.p.add(e.line, where, "jitter %v", err)
		}
		l.Jitter = d
		if err == nil && d > 0 && l.Delay == 0 {
			r.p.add(e.line, where, "jitter %s needs a delay to vary: add delay, e.g. delay=\"10ms\"", v)
		}
	}
	if v, ok := a["loss"]; ok {
		x, err := ParseLoss(v)
		if err != nil {
			r.p.add(e.line, where, "%v", err)
		}
		l.Loss = x
	}
	for _, pc := range []struct {
		name string
		to   *float64
	}{{"duplicate", &l.Duplicate}, {"corrupt", &l.Corrupt}, {"reorder", &l.Reorder}} {
		if v, ok := a[pc.name]; ok {
			x, err := ParseLoss(v)
			if err != nil {
				// ParseLoss speaks of loss; say which attribute.
				r.p.add(e.line, where, "%s%s", pc.name, strings.TrimPrefix(err.Error(), "loss"))
			}
			*pc.to = x
		}
	}
	if l.Reorder > 0 && l.Delay == 0 {
		r.p.add(e.line, where, "reorder needs a delay (reordered packets skip it): add delay, e.g. delay=\"10ms\"")
	}
	if v, ok := a["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1<<20 {
			r.p.add(e.line, where, "limit %q: write the queue length in packets, a whole number from 1 to 1048576", v)
		} else {
			l.Limit = n
		}
	}
	if v, ok := a["rate"]; ok {
		x, err := ParseRate(v)
		if err != nil {
			r.p.add(e.line, where, "%v", err)
		}
		l.Rate = x
	}
	if v, ok := a["mtu"]; ok {
		m, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || m < 68 || m > 65535 {
			r.p.add(e.line, where, "mtu %q: write a whole number from 68 to 65535 (1280 or more with IPv6)", v)
		} else {
			l.MTU = m
		}
	}
	if v, ok := a["state"]; ok {
		switch v {
		case "up":
		case "down":
			l.Down = true
		default:
			r.p.add(e.line, where, "state %q: write state=up or state=down", v)
		}
	}
}

// addrs parses tailip or headip.
func (r *resolver) addrs(e *rawEdge, attr string, n *Node) []netip.Prefix {
	v, ok := e.attrs[attr]
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	where := e.where()
	if n.Kind == KindBridge {
		other := "tailip"
		if attr == "tailip" {
			other = "headip"
		}
		r.p.add(e.line, where, "%s on bridge %q: a bridge port takes no address; put the address on the host end (%s)", attr, n.Name, other)
		r.blocked = true
		return nil
	}
	var out []netip.Prefix
	for _, item := range splitList(v) {
		p, msg := parseIfaceAddr(item)
		if msg != "" {
			r.p.add(e.line, where, "%s %q: %s", attr, item, msg)
			r.blocked = true
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseIfaceAddr parses an interface address with prefix length.
func parseIfaceAddr(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Is4() {
				return p, fmt.Sprintf("needs a prefix length: write e.g. %s/24", a)
			}
			return p, fmt.Sprintf("needs a prefix length: write e.g. %s/64", a)
		}
		return p, "not an address with prefix length: write e.g. 10.0.1.1/24 or fd00::1/64"
	}
	a := p.Addr()
	switch {
	case a.Is4In6():
		return p, fmt.Sprintf("write the IPv4 address as such: %s/%d", a.Unmap(), p.Bits()-96)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		return p, "not a unicast address an interface can have"
	case a.Is4() && p.Bits() < 31 && a == p.Masked().Addr():
		return p, fmt.Sprintf("is the network address of %s: use a host address such as %s/%d", p.Masked(), a.Next(), p.Bits())
	case a.Is4() && p.Bits() < 31 && a == lastAddr(p):
		return p, fmt.Sprintf("is the broadcast address of %s: use a host address such as %s/%d", p.Masked(), a.Prev(), p.Bits())
	case a.Is6() && p.Bits() < 127 && a == p.Masked().Addr():
		return p, fmt.Sprintf("is the subnet-router anycast address of %s (every router of the link answers it): use a host address such as %s/%d", p.Masked(), a.Next(), p.Bits())
	}
	return p, ""
}

// lastAddr returns the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ifaces names the interfaces the file leaves unnamed (eth0, eth1, ... per
// node, skipping names the file uses for that node) and creates them, in
// link order.
func (r *resolver) ifaces() {
	explicit := map[string]map[string]bool{}
	for _, le := range r.ends {
		for _, end := range []struct {
			ep  Endpoint
			set bool
		}{{le.link.A, le.aSet}, {le.link.B, le.bSet}} {
			if end.set {
				if explicit[end.ep.Node] == nil {
					explicit[end.ep.Node] = map[string]bool{}
				}
				explicit[end.ep.Node][end.ep.Iface] = true
			}
		}
	}
	next := map[string]int{}
	auto := func(node string) string {
		for {
			name := "eth" + strconv.Itoa(next[node])
			next[node]++
			if !explicit[node][name] {
				return name
			}
		}
	}
	used := map[Endpoint]*linkEnds{}
	for _, le := range r.ends {
		l := le.link
		if !le.aSet {
			l.A.Iface = auto(l.A.Node)
		}
		if !le.bSet {
			l.B.Iface = auto(l.B.Node)
		}
		for i, ep := range []Endpoint{l.A, l.B} {
			if prev, ok := used[ep]; ok {
				free := 0
				for used[Endpoint{ep.Node, "eth" + strconv.Itoa(free)}] != nil || explicit[ep.Node]["eth"+strconv.Itoa(free)] {
					free++
				}
				r.p.add(l.Line, le.where, "interface %s is already used by %s (line %d): one interface takes one link; name another port, e.g. %s:eth%d",
					ep, prev.where, prev.link.Line, ep.Node, free)
				r.blocked = true
				continue
			}
			used[ep] = le
			n := le.an
			if i == 1 {
				n = le.bn
			}
			ifc := &Iface{Name: ep.Iface}
			n.Ifaces = append(n.Ifaces, ifc)
			if i == 0 {
				le.a = ifc
				ifc.Addrs = le.aAddr
			} else {
				le.b = ifc
				ifc.Addrs = le.bAddr
			}
		}
	}
}

// explicitAddrs checks that no address is written twice.
func (r *resolver) explicitAddrs() {
	type place struct {
		desc string
		line int
	}
	seen := map[netip.Addr]place{}
	for _, le := range r.ends {
		for i, list := range [][]netip.Prefix{le.aAddr, le.bAddr} {
			ep := le.link.A
			if i == 1 {
				ep = le.link.B
			}
			for _, p := range list {
				if prev, ok := seen[p.Addr()]; ok {
					r.p.add(le.link.Line, le.where, "address %s of %s is already used by %s (line %d): every address must be unique in the lab", p.Addr(), ep, prev.desc, prev.line)
					r.blocked = true
					continue
				}
				seen[p.Addr()] = place{ep.String() + " on " + le.where, le.link.Line}
			}
		}
	}
}

// checkRoutes checks dev and via against the node's interfaces. withAddrs
// is false when addresses could not be planned: then via is not checked.
func (r *resolver) checkRoutes(withAddrs bool) {
	for _, n := range r.lab.Nodes {
		pending := r.routes[n]
		if len(pending) == 0 {
			continue
		}
		where := fmt.Sprintf("node %q", n.Name)
		type key struct {
			dst    netip.Prefix
			metric int
		}
		seen := map[key]bool{}
		for _, pr := range pending {
			rt := pr.route
			bad := func(format string, args ...any) {
				r.p.add(pr.line, where, "route %q: %s", rt.Text, fmt.Sprintf(format, args...))
			}
			k := key{rt.Dst, rt.Metric}
			if seen[k] {
				bad("a route to %s with metric %d is already given: the kernel would refuse the second", rt.Dst, rt.Metric)
				continue
			}
			seen[k] = true
			var dev *Iface
			if rt.Dev != "" && rt.Dev != "lo" {
				if dev = n.Iface(rt.Dev); dev == nil {
					bad("%s has no interface %s; its interfaces: %s", n.Name, rt.Dev, ifaceList(n))
					continue
				}
			}
			n.Routes = append(n.Routes, rt)
			if !withAddrs || !rt.Via.IsValid() {
				continue
			}
			if rt.Via.Is6() && rt.Via.IsLinkLocalUnicast() {
				if dev == nil {
					bad("a link-local gateway needs dev IFACE")
				}
				continue
			}
			candidates := n.Ifaces
			if dev != nil {
				candidates = []*Iface{dev}
			}
			ok := false
			for _, ifc := range candidates {
				for _, a := range ifc.Addrs {
					if a.Addr() == rt.Via {
						bad("via %s is %s's own address: use the neighbour's address", rt.Via, n.Name)
						ok = true // reported
					} else if a.Masked().Contains(rt.Via) {
						ok = true
					}
				}
			}
			if !ok {
				bad("via %s is not in a subnet connected to %s (%s): the kernel would refuse it; use a neighbour's address", rt.Via, n.Name, connected(n, rt.Via.Is4()))
			}
		}
	}
}

func ifaceList(n *Node) string {
	if len(n.Ifaces) == 0 {
		return "none"
	}
	names := make([]string, len(n.Ifaces))
	for i, ifc := range n.Ifaces {
		names[i] = ifc.Name
	}
	return strings.Join(names, ", ")
}

// connected describes a node's subnets of one IP version, for messages.
func connected(n *Node, v4 bool) string {
	var parts []string
	for _, ifc := range n.Ifaces {
		for _, a := range ifc.Addrs {
			if a.Addr().Is4() == v4 {
				parts = append(parts, ifc.Name+" "+a.Masked().String())
			}
		}
	}
	if len(parts) == 0 {
		if v4 {
			return "it has no IPv4 subnet"
		}
		return "it has no IPv6 subnet"
	}
	return strings.Join(parts, ", ")
}

// checkMTUs refuses MTUs below 1280 on links that carry IPv6: the kernel
// turns IPv6 off on such an interface.
func (r *resolver) checkMTUs() {
	for _, le := range r.ends {
		if le.link.MTU == 0 || le.link.MTU >= 1280 || le.a == nil || le.b == nil {
			continue
		}
		for _, a := range slices.Concat(le.a.Addrs, le.b.Addrs) {
			if a.Addr().Is6() {
				r.p.add(le.link.Line, le.where, "mtu %d is below 1280, the IPv6 minimum, and this link has IPv6 (%s): use mtu=1280 or more", le.link.MTU, a)
				break
			}
		}
	}
}
