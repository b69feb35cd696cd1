package topo

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/awalterschulze/gographviz"
	"github.com/awalterschulze/gographviz/ast"
)

// AttrScope says where an attribute may be written. It is a bit set.
type AttrScope uint8

// Attribute scopes.
const (
	ScopeGraph AttrScope = 1 << iota
	ScopeNode
	ScopeEdge
)

// String names the scope as messages do: "graph", "node" or "edge".
func (s AttrScope) String() string {
	switch s {
	case ScopeGraph:
		return "graph"
	case ScopeNode:
		return "node"
	case ScopeEdge:
		return "edge"
	}
	return "unknown"
}

// AttrSpec documents one attribute that topo reads from a DOT file.
type AttrSpec struct {
	Name  string
	Scope AttrScope
	// Example is a value as one writes it in a file (quoted where DOT
	// needs quotes).
	Example string
	Doc     string
}

// Attributes lists every attribute topo reads, in the order the docs show
// them. It is the one table that the parser, the docs and the graph
// renderer share. Any other attribute must be one of Graphviz's own (label,
// color, pos, ...): those are kept in the Attrs maps for drawing and
// otherwise ignored.
var Attributes = []AttrSpec{
	{"subnet", ScopeGraph, `"10.0.0.0/16"`, "IPv4 pool for automatic addresses: a /30 per point-to-point link, a /24 (or larger) per bridge LAN; \"none\" turns automatic IPv4 off"},
	{"subnet6", ScopeGraph, `"fd00::/48"`, "IPv6 pool for automatic addresses, off unless set: a /64 per link or LAN when the pool is /56 or shorter, else /126 per point-to-point link and /120 per LAN"},
	{"checks", ScopeGraph, `"lab.checks"`, "the file of checks topo check evaluates, relative to the DOT file's folder (default: the DOT file's name with .checks instead of .dot)"},
	{"kind", ScopeNode, "router", "host (default), router (IP forwarding on) or bridge (a Linux bridge; switch is the same)"},
	{"exec", ScopeNode, `"iperf3 -s -D"`, "a /bin/sh -c line run once all links are up; repeat exec, or put lines on separate lines, for several"},
	{"routes", ScopeNode, `"default via 10.0.1.1, 10.0.2.0/24 via 10.0.1.2 dev eth0 metric 10"`, "comma-separated static routes in ip route syntax: PREFIX|ADDR|default [via ADDR] [dev IFACE] [metric N]"},
	{"mounts", ScopeNode, `"data:/srv:ro"`, "comma-separated src:dst[:ro] bind mounts; src relative to the DOT file's folder and never outside it unless absolute"},
	{"image", ScopeNode, `"rootfs/alpine"`, "root filesystem folder or tarball for the node, relative to the DOT file's folder"},
	{"userns", ScopeNode, "true", "run the node in a user namespace whose root is an unprivileged host uid"},
	{"clockoffset", ScopeNode, `"30d"`, "moves the node's monotonic and boot-time clocks forward (a time namespace): 30d, 12h, 90m"},
	{"env", ScopeNode, `"MODE=test, PORT=8080"`, "comma-separated KEY=VALUE for exec lines and topo exec"},
	{"sysctl", ScopeNode, `"net.ipv4.tcp_ecn=1"`, "comma-separated key=value kernel parameters set inside the node (net/ipv4/... is accepted too)"},
	{"tailport", ScopeEdge, "eth0", "interface name at the tail end (same as writing tail:eth0)"},
	{"headport", ScopeEdge, "eth1", "interface name at the head end (same as writing head:eth1)"},
	{"tailip", ScopeEdge, `"10.0.1.1/24, fd00:1::1/64"`, "addresses with prefix length for the tail end, comma-separated"},
	{"headip", ScopeEdge, `"10.0.1.2/24"`, "addresses with prefix length for the head end, comma-separated"},
	{"mtu", ScopeEdge, "9000", "MTU of both ends: 68 to 65535, at least 1280 when the link carries IPv6"},
	{"delay", ScopeEdge, `"10ms"`, "one-way delay in each direction (needs sch_netem)"},
	{"jitter", ScopeEdge, `"2ms"`, "delay variation; needs delay"},
	{"loss", ScopeEdge, `"0.5%"`, "random packet loss in each direction, a percentage"},
	{"duplicate", ScopeEdge, `"1%"`, "random duplication in each direction, a percentage (needs sch_netem)"},
	{"corrupt", ScopeEdge, `"0.1%"`, "random one-bit corruption in each direction, a percentage (needs sch_netem)"},
	{"reorder", ScopeEdge, `"25%"`, "share of packets sent at once instead of after the delay, a percentage; needs delay (and sch_netem)"},
	{"limit", ScopeEdge, "100", "queue length in full-size packets for the shaper and netem (default: 50 ms at the rate)"},
	{"rate", ScopeEdge, `"100mbit"`, "rate limit in each direction, tc units: bit, kbit, mbit, gbit, kibit, mibit; bps, kbps, mbps are BYTES per second"},
	{"state", ScopeEdge, "down", "up (default) or down: create the link administratively down"},
}

var attrByName = func() map[string]AttrSpec {
	m := make(map[string]AttrSpec, len(Attributes))
	for _, a := range Attributes {
		m[a.Name] = a
	}
	return m
}()

// Load reads, parses and validates the DOT file at path ("-" reads stdin).
// name, when not "", overrides the lab name (topo up --name). A file that
// cannot be read is an ordinary error; a file that is not a valid topology
// is a *ValidationError listing every problem.
func Load(path, name string) (*Lab, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read topology: %w", err)
		}
		defer f.Close()
		in = f
	}
	// Bounded, so that memory stays bounded (parsing takes a few times the
	// file's size): a lab of 100000 nodes is under 2 MiB of DOT.
	data, err := io.ReadAll(io.LimitReader(in, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &ValidationError{File: displayName(path), Problems: []Problem{{
			Where: "file", Msg: fmt.Sprintf("larger than %d MiB: topo reads lab files up to that size", MaxFileSize>>20)}}}
	}
	return Parse(path, data, name)
}

// MaxFileSize bounds what Load reads of a lab file.
const MaxFileSize = 64 << 20

// Parse parses and validates DOT text. file is the path used in messages
// and to resolve relative mounts and images; "" or "-" means stdin: then
// relative paths resolve against the current directory and the lab name
// must come from name or the graph ID. Every error it returns is a
// *ValidationError. Parse reads the file system only to check that mount
// sources and images exist.
func Parse(file string, data []byte, name string) (*Lab, error) {
	p := &problems{file: displayName(file)}
	raw := parseRaw(data, p)
	if raw == nil {
		return nil, p.err()
	}
	lab := resolve(raw, file, name, p)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return lab, nil
}

func displayName(file string) string {
	if file == "" || file == "-" {
		return "stdin"
	}
	return file
}

// rawLab is the DOT file after DOT semantics (defaults, subgraphs, merged
// node statements) and before any topo meaning: names and values are
// unquoted strings.
type rawLab struct {
	graphID   string
	graphLine int
	strict    bool
	directed  bool
	attrs     map[string]string
	attrLine  map[string]int
	nodes     []*rawNode // in order of first mention
	edges     []*rawEdge // in order of the edge operators in the text
}

type rawNode struct {
	name string
	line int // first mention
	// attrs are the attributes the node got when it was created (node
	// defaults in force then) overwritten by every node statement in order.
	attrs    map[string]string
	attrLine map[string]int
	// exec holds every exec value of the node's statements in order: the
	// analyser's maps keep only the last one.
	exec []string
}

type rawEdge struct {
	tail, head               string
	tailPort, headPort       string // from tail:port syntax
	tailCompass, headCompass string
	attrs                    map[string]string
	line                     int
	idx                      int // position of its operator in the text
	op                       string
}

func (e *rawEdge) where() string { return "edge " + e.tail + e.op + e.head }

// parseRaw turns DOT text into its raw form, or returns nil after recording
// a syntax error.
func parseRaw(data []byte, p *problems) (raw *rawLab) {
	// Editors on some systems start files with a byte order mark, which
	// DOT would read as part of the first name.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	// gographviz's lexer wants a newline after a // comment, even at the
	// end of the file.
	if len(data) == 0 || data[len(data)-1] != '\n' {
		data = append(slices.Clip(data), '\n')
	}
	defer func() {
		if r := recover(); r != nil {
			p.add(0, "", "the DOT parser failed on this file (%v): please report it", r)
			raw = nil
		}
	}()
	g, err := gographviz.Parse(data)
	if err != nil {
		p.list = append(p.list, syntaxProblem(data, err))
		return nil
	}

	w := &walker{
		toks:   lexDOT(data),
		p:      p,
		byName: map[string]*rawNode{},
		rh:     map[*ast.EdgeRH]*rhInfo{},
		op:     "--",
		raw:    &rawLab{strict: g.Strict, directed: g.Type == ast.DIGRAPH, attrs: map[string]string{}, attrLine: map[string]int{}},
	}
	if w.raw.directed {
		w.op = "->"
	}
	w.graph(g)

	rg := &rawGraph{created: map[string]map[string]string{}}
	if err := gographviz.Analyse(g, rg); err != nil {
		p.add(0, "", "the DOT analyser failed on this file (%v): please report it", err)
		return nil
	}

	raw = w.raw
	for _, n := range w.nodes {
		attrs := maps.Clone(rg.created[n.name])
		if attrs == nil {
			attrs = map[string]string{}
		}
		maps.Copy(attrs, n.attrs)
		n.attrs = attrs
		// An exec in node defaults counts only for nodes that set none
		// of their own, as any attribute's default.
		if len(n.exec) == 0 {
			if v, ok := attrs["exec"]; ok {
				n.exec = []string{v}
			}
		}
		raw.nodes = append(raw.nodes, n)
	}

	// Analyse reports edges in its own walking order (an edge statement
	// before the subgraphs it contains); map each report back to the edge
	// operator it came from.
	order := analyseOrder(g.StmtList, nil)
	if len(order) != len(rg.edges) {
		p.add(0, "", "the DOT analyser reported %d edges where the file has %d: please report it", len(rg.edges), len(order))
		return nil
	}
	for call, rh := range order {
		info := w.rh[rh]
		if info == nil {
			continue
		}
		for _, s := range info.src.nodes {
			for _, d := range info.dst.nodes {
				e := &rawEdge{
					tail: s, head: d,
					attrs: make(map[string]string, len(rg.edges[call])),
					line:  info.line, idx: info.idx, op: w.op,
				}
				if info.src.isNode {
					e.tailPort, e.tailCompass = info.src.port, info.src.compass
				}
				if info.dst.isNode {
					e.headPort, e.headCompass = info.dst.port, info.dst.compass
				}
				for k, v := range rg.edges[call] {
					e.attrs[unquote(k)] = unquote(v)
				}
				maps.Copy(e.attrs, info.fixed)
				raw.edges = append(raw.edges, e)
			}
		}
	}
	slices.SortStableFunc(raw.edges, func(a, b *rawEdge) int { return a.idx - b.idx })
	return raw
}

// analyseOrder lists the edge operators in the order gographviz.Analyse
// reports them: all of an edge statement's edges, then the statements of
// the subgraphs it uses as endpoints.
func analyseOrder(list ast.StmtList, out []*ast.EdgeRH) []*ast.EdgeRH {
	for _, s := range list {
		switch s := s.(type) {
		case *ast.EdgeStmt:
			out = analyseOrderEdge(*s, out)
		case ast.EdgeStmt:
			out = analyseOrderEdge(s, out)
		case *ast.SubGraph:
			out = analyseOrder(s.StmtList, out)
		}
	}
	return out
}

func analyseOrderEdge(s ast.EdgeStmt, out []*ast.EdgeRH) []*ast.EdgeRH {
	out = append(out, s.EdgeRHS...)
	if sg, ok := s.Source.(*ast.SubGraph); ok {
		out = analyseOrder(sg.StmtList, out)
	}
	for _, rh := range s.EdgeRHS {
		if sg, ok := rh.Destination.(*ast.SubGraph); ok {
			out = analyseOrder(sg.StmtList, out)
		}
	}
	return out
}

// rawGraph is topo's gographviz.Interface. Unlike gographviz.Graph it takes
// any attribute: topo checks names itself, with better messages. It keeps
// what only the analyser knows well: the attributes a node gets from the
// node defaults in force where it is created, and every edge's attributes
// with edge defaults applied.
type rawGraph struct {
	created map[string]map[string]string // unquoted node name -> attrs (raw)
	edges   []map[string]string          // one per AddPortEdge call
}

var _ gographviz.Interface = (*rawGraph)(nil)

func (g *rawGraph) SetStrict(bool) error         { return nil }
func (g *rawGraph) SetDir(bool) error            { return nil }
func (g *rawGraph) SetName(string) error         { return nil }
func (g *rawGraph) String() string               { return "" }
func (g *rawGraph) AddAttr(_, _, _ string) error { return nil }
func (g *rawGraph) AddSubGraph(string, string, map[string]string) error {
	return nil
}

// AddNode records the attributes of a node's first appearance only: the
// analyser calls it again, with the defaults of the current subgraph, when
// a known node shows up in a subgraph, and DOT applies defaults only to
// nodes created after them. Later node statements are merged from the
// syntax tree instead.
func (g *rawGraph) AddNode(_ string, name string, attrs map[string]string) error {
	name = unquote(name)
	if _, ok := g.created[name]; ok {
		return nil
	}
	m := make(map[string]string, len(attrs))
	for k, v := range attrs {
		m[unquote(k)] = unquote(v)
	}
	g.created[name] = m
	return nil
}

func (g *rawGraph) AddPortEdge(_, _, _, _ string, _ bool, attrs map[string]string) error {
	g.edges = append(g.edges, maps.Clone(attrs))
	return nil
}

func (g *rawGraph) AddEdge(src, dst string, directed bool, attrs map[string]string) error {
	return g.AddPortEdge(src, "", dst, "", directed, attrs)
}

// unquote turns a DOT ID into its value. In a quoted string the only escape
// is \" and a backslash before a newline continues the line; every other
// backslash stays (Graphviz gives \n, \l meaning in labels). HTML strings
// keep their angle brackets so that a renderer can tell them apart.
func unquote(id string) string {
	if len(id) < 2 || id[0] != '"' || id[len(id)-1] != '"' {
		return id
	}
	s := id[1 : len(id)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '"':
				b.WriteByte('"')
				i++
				continue
			case '\n':
				i++
				continue
			case '\r':
				if i+2 < len(s) && s[i+2] == '\n' {
					i += 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// syntaxProblem turns a gographviz parse error into a Problem with line and
// column. The error's type lives in an internal package: its exported
// fields are read by reflection, and the message alone is kept if that
// ever fails.
func syntaxProblem(data []byte, err error) (pr Problem) {
	pr.Msg = "syntax error: " + err.Error()
	defer func() { _ = recover() }()
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	tokv := v.FieldByName("ErrorToken")
	for tokv.Kind() == reflect.Pointer {
		tokv = tokv.Elem()
	}
	off := int(tokv.FieldByName("Pos").FieldByName("Offset").Int())
	lit := string(tokv.FieldByName("Lit").Bytes())
	var expected []string
	if ev := v.FieldByName("ExpectedTokens"); ev.IsValid() {
		for i := 0; i < ev.Len(); i++ {
			expected = append(expected, tokenName(ev.Index(i).String()))
		}
	}
	pr.Line, pr.Col = lineCol(data, off)

	var b strings.Builder
	switch {
	case off >= len(data)-1 && strings.TrimSpace(lit) == "" && slices.Contains(expected, "strict"):
		b.WriteString("syntax error: no graph in the file: write graph NAME { ... }")
	case off >= len(data)-1 && strings.TrimSpace(lit) == "":
		b.WriteString("syntax error: unexpected end of file")
		if slices.Contains(expected, "}") {
			b.WriteString(": a closing } is missing")
		}
	case strings.HasPrefix(lit, `"`) && (len(lit) == 1 || !strings.HasSuffix(lit, `"`)):
		b.WriteString("syntax error: a quoted string is not closed")
	default:
		fmt.Fprintf(&b, "syntax error at %q", shorten(lit, 24))
		if len(expected) > 0 {
			b.WriteString(": expected ")
			b.WriteString(joinOr(expected))
		}
	}
	if !strings.HasPrefix(lit, `"`) && strings.ContainsAny(lit, `%/.`) {
		b.WriteString(` (quote values with units, addresses or paths: loss="0.5%", tailip="10.0.1.1/24")`)
	}
	pr.Msg = b.String()
	return pr
}

func tokenName(t string) string {
	switch t {
	case "$":
		return "end of file"
	case "id":
		return "a name"
	case "graphx":
		return "graph"
	case "error":
		return ""
	}
	return t
}

func joinOr(list []string) string {
	list = slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == "" })
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	return strings.Join(list[:len(list)-1], " ") + " or " + list[len(list)-1]
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// lineCol returns the 1-based line and column (in runes) of a byte offset.
func lineCol(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	line, col = 1, 1
	for _, r := range string(data[:off]) {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// The syntax tree has no positions. A small lexer that agrees with
// gographviz's on every file gographviz accepts gives the tokens with their
// lines; the walker below consumes them in step with the tree, so that each
// statement, attribute and edge operator finds its line.

type tokKind uint8

const (
	tkName tokKind = iota // letters, digits, _ (not starting with a digit)
	tkNum                 // a numeral
	tkQuoted
	tkHTML
	tkKeyword
	tkPunct // { } [ ] = ; , :
	tkOp    // -- ->
)

type dotTok struct {
	kind       tokKind
	text       string
	start, end int // byte offsets
	line       int
}

func (t *dotTok) isID() bool { return t.kind <= tkHTML }

var dotKeywords = map[string]bool{
	"node": true, "Node": true, "NODE": true,
	"edge": true, "Edge": true, "EDGE": true,
	"graph": true, "Graph": true, "GRAPH": true,
	"digraph": true, "Digraph": true, "diGraph": true, "DiGraph": true, "DIGRAPH": true,
	"subgraph": true, "Subgraph": true, "subGraph": true, "SubGraph": true, "SUBGRAPH": true,
	"strict": true, "Strict": true, "STRICT": true,
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

// lexDOT splits DOT text that gographviz has accepted into tokens. On text
// it has not accepted the result is merely useless, never a panic.
func lexDOT(data []byte) []dotTok {
	toks := make([]dotTok, 0, len(data)/4)
	line := 1
	n := len(data)
	for i := 0; i < n; {
		c := data[i]
		start, startLine := i, line
		kind := tkPunct
		switch {
		case c == '\n':
			line++
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case c == '#' || c == '/' && i+1 < n && data[i+1] == '/':
			for i < n && data[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && data[i+1] == '*':
			i += 2
			for i < n && !(data[i] == '*' && i+1 < n && data[i+1] == '/') {
				if data[i] == '\n' {
					line++
				}
				i++
			}
			i += 2
			continue
		case c == '"':
			kind = tkQuoted
			i++
			for i < n && data[i] != '"' {
				if data[i] == '\\' && i+1 < n {
					i++
				}
				if data[i] == '\n' {
					line++
				}
				i++
			}
			i++
		case c == '<':
			kind = tkHTML
			depth := 0
			for i < n {
				switch data[i] {
				case '<':
					depth++
				case '>':
					depth--
				case '\n':
					line++
				}
				i++
				if depth == 0 {
					break
				}
			}
		case c == '-' && i+1 < n && (data[i+1] == '-' || data[i+1] == '>'):
			kind = tkOp
			i += 2
		case c == '-' || c == '.' || isDigit(c):
			kind = tkNum
			if c == '-' {
				i++
			}
			for i < n && isDigit(data[i]) {
				i++
			}
			if i < n && data[i] == '.' {
				i++
				for i < n && isDigit(data[i]) {
					i++
				}
			}
			if i == start {
				i++
			}
		case isLetter(c):
			kind = tkName
			for i < n && (isLetter(data[i]) || isDigit(data[i])) {
				i++
			}
			if dotKeywords[string(data[start:i])] {
				kind = tkKeyword
			}
		default:
			i++
		}
		if i > n {
			i = n
		}
		toks = append(toks, dotTok{kind: kind, text: string(data[start:i]), start: start, end: i, line: startLine})
	}
	return toks
}

// walker visits the syntax tree in text order, in step with the tokens.
type walker struct {
	toks []dotTok
	i    int
	p    *problems
	op   string // "--" or "->", for messages
	raw  *rawLab

	nodes  []*rawNode
	byName map[string]*rawNode
	rh     map[*ast.EdgeRH]*rhInfo
	nrh    int
	// groups collect the nodes of the subgraphs being walked, for edges
	// whose endpoint is a subgraph.
	groups []*nodeGroup
}

type nodeGroup struct {
	seen  map[string]bool
	nodes []string
}

type endpoint struct {
	nodes         []string
	isNode        bool
	port, compass string
}

type rhInfo struct {
	idx, line int
	src, dst  *endpoint
	// fixed holds values the analyser got wrong: unquoted 10ms.
	fixed map[string]string
}

type attrAt struct {
	key, value string
	line       int
	glued      string // a problem with an unquoted value, reported by checkKeys
}

var noTok = &dotTok{}

func (w *walker) peek() *dotTok {
	if w.i < len(w.toks) {
		return &w.toks[w.i]
	}
	return noTok
}

// next consumes tokens up to and including the next one that ok accepts.
func (w *walker) next(ok func(*dotTok) bool) *dotTok {
	for w.i < len(w.toks) {
		t := &w.toks[w.i]
		w.i++
		if ok(t) {
			return t
		}
	}
	return noTok
}

func (w *walker) nextID() *dotTok { return w.next((*dotTok).isID) }

func isOpenBrace(t *dotTok) bool { return t.kind == tkPunct && t.text == "{" }

func (w *walker) graph(g *ast.Graph) {
	if t := w.peek(); t != noTok {
		w.raw.graphLine = t.line
	}
	if g.ID != "" {
		w.nextID()
		w.raw.graphID = unquote(string(g.ID))
	}
	w.next(isOpenBrace)
	w.stmts(g.StmtList, "")
}

// stmts walks a statement list. sub is "" at the top level, else the
// subgraph's description for messages.
func (w *walker) stmts(list ast.StmtList, sub string) {
	for _, s := range list {
		switch s := s.(type) {
		case *ast.NodeStmt:
			w.nodeStmt(*s)
		case ast.NodeStmt:
			w.nodeStmt(s)
		case *ast.EdgeStmt:
			w.edgeStmt(*s)
		case ast.EdgeStmt:
			w.edgeStmt(s)
		case ast.NodeAttrs:
			w.checkKeys(w.attrList(ast.AttrList(s)), ScopeNode, "node defaults")
		case *ast.NodeAttrs:
			w.checkKeys(w.attrList(ast.AttrList(*s)), ScopeNode, "node defaults")
		case ast.EdgeAttrs:
			w.checkKeys(w.attrList(ast.AttrList(s)), ScopeEdge, "edge defaults")
		case *ast.EdgeAttrs:
			w.checkKeys(w.attrList(ast.AttrList(*s)), ScopeEdge, "edge defaults")
		case ast.GraphAttrs:
			w.graphAttrs(w.attrList(ast.AttrList(s)), sub)
		case *ast.GraphAttrs:
			w.graphAttrs(w.attrList(ast.AttrList(*s)), sub)
		case *ast.Attr:
			f := w.nextID()
			w.next(func(t *dotTok) bool { return t.kind == tkPunct && t.text == "=" })
			w.nextID()
			w.graphAttrs([]attrAt{{key: unquote(string(s.Field)), value: unquote(string(s.Value)), line: f.line}}, sub)
		case *ast.SubGraph:
			w.subgraph(s)
		}
	}
}

func (w *walker) graphAttrs(list []attrAt, sub string) {
	if sub != "" {
		for _, a := range list {
			if spec, ok := attrByName[a.key]; ok && spec.Scope == ScopeGraph {
				w.p.add(a.line, sub, "%s applies to the whole lab: set it at the top level of the graph", a.key)
			}
		}
		w.checkKeys(list, ScopeGraph, sub)
		return
	}
	w.checkKeys(list, ScopeGraph, "graph")
	for _, a := range list {
		w.raw.attrs[a.key] = a.value
		w.raw.attrLine[a.key] = a.line
	}
}

// attrList consumes an attribute list. An attribute without "=" means
// "=true" in DOT and has no value token.
func (w *walker) attrList(al ast.AttrList) []attrAt {
	var out []attrAt
	for _, alist := range al {
		var prev *dotTok // previous value token
		for _, a := range alist {
			f := w.nextID()
			hasValue := false
			if t := w.peek(); t.kind == tkPunct && t.text == "=" {
				w.i++
				hasValue = true
			}
			at := attrAt{key: unquote(string(a.Field)), value: unquote(string(a.Value)), line: f.line}
			if !hasValue && prev != nil && prev.kind == tkNum && prev.end == f.start && len(out) > 0 {
				// delay=10ms unquoted: DOT reads the number 10 and a
				// separate attribute "ms". Say so instead of "unknown
				// attribute ms", and take the value meant so that it is
				// not reported as wrong too.
				last := &out[len(out)-1]
				last.value = prev.text + f.text
				last.glued = fmt.Sprintf("%s=%s must be quoted: write %s=\"%s\" (unquoted, DOT reads the number %s followed by an attribute %q)",
					last.key, last.value, last.key, last.value, prev.text, f.text)
				prev = nil
				continue
			}
			prev = nil
			if hasValue {
				prev = w.nextID()
			}
			out = append(out, at)
		}
	}
	return out
}

// checkKeys reports attributes that are neither topo's (in this scope) nor
// Graphviz's.
func (w *walker) checkKeys(list []attrAt, scope AttrScope, where string) {
	for _, a := range list {
		if a.glued != "" {
			w.p.add(a.line, where, "%s", a.glued)
		}
		if msg := checkAttrName(a.key, scope); msg != "" {
			w.p.add(a.line, where, "%s", msg)
		}
	}
}

// checkAttrName returns "" when name may be written in scope, else what is
// wrong and what to write instead.
func checkAttrName(name string, scope AttrScope) string {
	if spec, ok := attrByName[name]; ok {
		if spec.Scope&scope != 0 {
			return ""
		}
		switch spec.Scope {
		case ScopeGraph:
			return fmt.Sprintf("%s is a graph attribute: write it at the top level, e.g. %s=%s", name, name, spec.Example)
		case ScopeNode:
			return fmt.Sprintf("%s is a node attribute: write it on a node, e.g. r1 [%s=%s]", name, name, spec.Example)
		default:
			return fmt.Sprintf("%s is an edge attribute: write it on an edge, e.g. a -- b [%s=%s]", name, name, spec.Example)
		}
	}
	if _, err := gographviz.NewAttr(name); err == nil {
		return ""
	}
	if s := suggestAttr(name, scope); s != "" {
		return fmt.Sprintf("unknown attribute %q: did you mean %q?", name, s)
	}
	var names []string
	for _, a := range Attributes {
		if a.Scope&scope != 0 {
			names = append(names, a.Name)
		}
	}
	article := "a"
	if scope == ScopeEdge {
		article = "an"
	}
	return fmt.Sprintf("unknown attribute %q: %s %s takes %s, or a Graphviz attribute such as label", name, article, scope, strings.Join(names, ", "))
}

// suggestAttr returns the known attribute nearest to name, preferring topo's
// own attributes of the scope, or "" when none is close.
func suggestAttr(name string, scope AttrScope) string {
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	best, bestD := "", limit+1
	consider := func(cand string, penalty int) {
		if d := editDistance(strings.ToLower(name), strings.ToLower(cand)) + penalty; d < bestD {
			best, bestD = cand, d
		}
	}
	for _, a := range Attributes {
		if a.Scope&scope != 0 {
			consider(a.Name, 0)
		}
	}
	if best == "" {
		for _, g := range graphvizAttrNames {
			consider(g, 0)
		}
	}
	return best
}

// graphvizAttrNames are a few common Graphviz attributes worth suggesting;
// gographviz does not export its list.
var graphvizAttrNames = []string{
	"label", "color", "shape", "pos", "style", "fillcolor", "fontname", "fontsize",
	"fontcolor", "penwidth", "rankdir", "rank", "xlabel", "taillabel", "headlabel",
	"width", "height", "tooltip", "weight", "dir", "arrowhead", "arrowtail",
	"constraint", "splines", "layout", "bgcolor", "comment", "group", "len",
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// mention records that the node called name appears at line.
func (w *walker) mention(name string, line int) *rawNode {
	n := w.byName[name]
	if n == nil {
		n = &rawNode{name: name, line: line, attrs: map[string]string{}, attrLine: map[string]int{}}
		w.byName[name] = n
		w.nodes = append(w.nodes, n)
	}
	for _, g := range w.groups {
		if !g.seen[name] {
			g.seen[name] = true
			g.nodes = append(g.nodes, name)
		}
	}
	return n
}

func (w *walker) nodeID(id *ast.NodeID) (*rawNode, *endpoint, int) {
	t := w.nextID()
	if n := w.peek(); n.isID() && n.start == t.end && t != noTok && (t.kind == tkNum || n.kind == tkNum) {
		// core-1 unquoted is the name core and the number -1: two nodes.
		w.p.add(t.line, "", "%s%s must be quoted: write \"%s%s\" (unquoted, DOT reads %s and %s as two names)",
			t.text, n.text, t.text, n.text, t.text, n.text)
	}
	ep := &endpoint{isNode: true}
	name := unquote(string(id.ID))
	if id.Port.ID1 != "" {
		w.nextID()
		ep.port = unquote(string(id.Port.ID1))
	}
	if id.Port.ID2 != "" {
		w.nextID()
		ep.compass = unquote(string(id.Port.ID2))
	}
	ep.nodes = []string{name}
	return w.mention(name, t.line), ep, t.line
}

func (w *walker) nodeStmt(s ast.NodeStmt) {
	n, ep, line := w.nodeID(s.NodeID)
	where := fmt.Sprintf("node %q", n.name)
	if ep.port != "" {
		w.p.add(line, where, "a port (%s:%s) names an interface and belongs on an edge, not on a node statement", n.name, ep.port)
	}
	list := w.attrList(s.Attrs)
	w.checkKeys(list, ScopeNode, where)
	for _, a := range list {
		n.attrs[a.key] = a.value
		n.attrLine[a.key] = a.line
		if a.key == "exec" {
			n.exec = append(n.exec, a.value)
		}
	}
}

func (w *walker) location(l ast.Location) *endpoint {
	switch l := l.(type) {
	case *ast.NodeID:
		_, ep, _ := w.nodeID(l)
		return ep
	case *ast.SubGraph:
		return &endpoint{nodes: w.subgraph(l)}
	}
	return &endpoint{}
}

// subgraph walks a subgraph and returns the nodes it mentions, in order.
func (w *walker) subgraph(sg *ast.SubGraph) []string {
	t := w.next(func(t *dotTok) bool {
		return t.kind == tkKeyword && strings.EqualFold(t.text, "subgraph") || isOpenBrace(t)
	})
	desc := "subgraph"
	if t.kind == tkKeyword {
		if w.peek().isID() {
			desc = fmt.Sprintf("subgraph %q", unquote(w.nextID().text))
		}
		// The body's brace, so that a nested subgraph does not take it
		// for its own.
		w.next(isOpenBrace)
	}
	g := &nodeGroup{seen: map[string]bool{}}
	w.groups = append(w.groups, g)
	w.stmts(sg.StmtList, desc)
	w.groups = w.groups[:len(w.groups)-1]
	return g.nodes
}

func (w *walker) edgeStmt(s ast.EdgeStmt) {
	src := w.location(s.Source)
	var first *rhInfo
	for _, rh := range s.EdgeRHS {
		op := w.next(func(t *dotTok) bool { return t.kind == tkOp })
		dst := w.location(rh.Destination)
		info := &rhInfo{idx: w.nrh, line: op.line, src: src, dst: dst}
		w.nrh++
		w.rh[rh] = info
		if first == nil {
			first = info
		}
		src = dst
	}
	list := w.attrList(s.Attrs)
	where := "edge"
	if first != nil {
		where = "edge " + epName(first.src) + w.op + epName(first.dst)
	}
	w.checkKeys(list, ScopeEdge, where)
	for _, a := range list {
		if a.glued == "" {
			continue
		}
		for _, rh := range s.EdgeRHS {
			if info := w.rh[rh]; info != nil {
				if info.fixed == nil {
					info.fixed = map[string]string{}
				}
				info.fixed[a.key] = a.value
			}
		}
	}
}

func epName(e *endpoint) string {
	if e.isNode && len(e.nodes) == 1 {
		return e.nodes[0]
	}
	return "{" + strings.Join(e.nodes, " ") + "}"
}
