package graph

import (
	"bytes"
	"fmt"
	"strings"
)

// writeDOT writes the doc as an annotated DOT file.
func writeDOT(d *doc) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// %s, drawn by topo graph. This is a topo lab file: topo up reads it back as\n", d.name)
	b.WriteString("// the same lab. kind, exec, routes, tailip, mtu and topo's other attributes\n")
	b.WriteString("// say what the lab is; the rest is for Graphviz and says how it looks.\n")
	fmt.Fprintf(&b, "graph %s {\n", quote(d.name))
	for _, a := range d.graph {
		fmt.Fprintf(&b, "\t%s=%s\n", a.k, value(a.v))
	}
	fmt.Fprintf(&b, "\tnode %s\n", list(nodeDefaults))
	fmt.Fprintf(&b, "\tedge %s\n", list(edgeDefaults))
	if len(d.nodes) > 0 {
		b.WriteByte('\n')
	}
	for _, n := range d.nodes {
		fmt.Fprintf(&b, "\t%s %s\n", quote(n.name), list(append(n.topo[:len(n.topo):len(n.topo)], n.look...)))
	}
	if len(d.edges) > 0 {
		b.WriteByte('\n')
	}
	for _, e := range d.edges {
		fmt.Fprintf(&b, "\t%s -- %s %s\n", quote(e.tail), quote(e.head), list(append(e.topo[:len(e.topo):len(e.topo)], e.look...)))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// list formats an attribute list: [k=v, k=v].
func list(a []attr) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range a {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x.k)
		b.WriteByte('=')
		b.WriteString(value(x.v))
	}
	b.WriteByte(']')
	return b.String()
}

// value writes an attribute's value: bare when DOT reads it back as
// written (a name or a number), an HTML string as such, else quoted.
func value(v string) string {
	if isHTML(v) || isPlainID(v) {
		return v
	}
	return quote(v)
}

// quote writes a DOT quoted string. Inside one, \" is the only escape; a
// value read from a DOT file (topo's parser unquotes the same way) never
// has an odd run of backslashes before a quote or at its end, so the
// result reads back as v.
func quote(v string) string {
	return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
}

var dotKeyword = map[string]bool{"node": true, "edge": true, "graph": true, "digraph": true, "subgraph": true, "strict": true}

// isPlainID reports whether v can be written without quotes: a name of
// letters, digits and _ not starting with a digit (and not a keyword), or a
// numeral.
func isPlainID(v string) bool {
	if v == "" || dotKeyword[strings.ToLower(v)] {
		return false
	}
	name, num := true, true
	dot := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		digit := c >= '0' && c <= '9'
		if !letter && !(digit && i > 0) {
			name = false
		}
		switch {
		case digit:
		case c == '.' && !dot:
			dot = true
		case c == '-' && i == 0 && len(v) > 1:
		default:
			num = false
		}
	}
	if num && (v == "." || v == "-." || strings.HasSuffix(v, "-")) {
		num = false
	}
	return name || num
}

// isHTML reports whether v is an HTML-like string as topo's parser keeps
// them: <...> with balanced angle brackets.
func isHTML(v string) bool {
	if len(v) < 2 || v[0] != '<' || v[len(v)-1] != '>' {
		return false
	}
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '<':
			depth++
		case '>':
			depth--
			if depth == 0 && i != len(v)-1 {
				return false
			}
		}
		if depth < 0 {
			return false
		}
	}
	return depth == 0
}
