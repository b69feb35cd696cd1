package topo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Checks are what a lab should do once it works: replies to pings, routes
// in a node's table, words in a command's output. A lab declares them in a
// checks file, one check per line (see ParseChecks); topo check evaluates
// them against the running lab.

// CheckKind is what a check looks at.
type CheckKind string

// Check kinds.
const (
	// CheckPing sends one ping from a node to a node or an address.
	CheckPing CheckKind = "ping"
	// CheckRoute looks for a prefix in a node's main routing table.
	CheckRoute CheckKind = "route"
	// CheckRun runs a shell line in a node and looks at its output or
	// exit status.
	CheckRun CheckKind = "run"
	// CheckPingAll pings between every pair of a set of nodes.
	CheckPingAll CheckKind = "pingall"
)

// Limits of one check, documented in the README.
const (
	// PingTimeout is how long a ping waits for its reply.
	PingTimeout = 2 * time.Second
	// RunTimeout is how long a run check's command may take.
	RunTimeout = 10 * time.Second
)

// Check is one line of a checks file.
type Check struct {
	// Line is the 1-based line of the checks file.
	Line int `json:"line"`
	// Text is the check as written, without its note.
	Text string `json:"text"`
	// Note is the comment at the end of the line, shown with the result.
	Note string    `json:"note,omitempty"`
	Kind CheckKind `json:"kind"`
	// Not inverts the check: the ping gets no reply, the route is absent,
	// the output lacks the text or the command fails.
	Not bool `json:"not,omitempty"`
	// Node is where a ping, route or run check looks.
	Node string `json:"node,omitempty"`
	// Target is what a ping is sent to: a node, NODE-IFACE or an address.
	Target string `json:"target,omitempty"`
	// Prefix, Via, Dev and Proto describe the route looked for; Via, Dev
	// and Proto are optional (zero or "").
	Prefix netip.Prefix `json:"prefix,omitzero"`
	Via    netip.Addr   `json:"via,omitzero"`
	Dev    string       `json:"dev,omitempty"`
	Proto  string       `json:"proto,omitempty"`
	// Command is the shell line of a run check; Contains or Match what its
	// output must show (neither: it must exit with status 0).
	Command  string         `json:"command,omitempty"`
	Contains string         `json:"contains,omitempty"`
	Match    *regexp.Regexp `json:"-"`
	// Nodes are the nodes of a pingall; empty means every host (every
	// node with an address when the lab has fewer than two hosts).
	Nodes []string `json:"nodes,omitempty"`
}

// routeProtos are the names a route check's proto takes, as ip route and
// the kernel's rtnetlink name them.
var routeProtos = []string{
	"babel", "bgp", "bird", "boot", "dhcp", "eigrp", "isis", "kernel", "ospf", "ra",
	"redirect", "rip", "static", "zebra",
}

// ChecksFile returns the checks file of a lab: the graph attribute checks,
// relative to the DOT file's folder, else the DOT file's name with .checks
// instead of .dot, beside it.
func ChecksFile(lab *Lab) (string, error) {
	if v := strings.TrimSpace(lab.Attrs["checks"]); v != "" {
		if filepath.IsAbs(v) {
			return v, nil
		}
		return filepath.Join(lab.Dir, v), nil
	}
	if lab.File == "" {
		return "", fmt.Errorf("lab %s was read from standard input: name its checks file with --file, or set checks=\"FILE\" in the graph", lab.Name)
	}
	return strings.TrimSuffix(lab.File, filepath.Ext(lab.File)) + ".checks", nil
}

// LoadChecks reads the checks file at path ("" means the lab's own, see
// ChecksFile), parses it and checks every name and address against the
// lab. A file that is not valid is a *ValidationError naming the lines.
func LoadChecks(lab *Lab, path string) ([]*Check, string, error) {
	if path == "" {
		var err error
		if path, err = ChecksFile(lab); err != nil {
			return nil, "", err
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if lab.Attrs["checks"] == "" {
			return nil, path, fmt.Errorf("lab %s declares no checks: write them in %s (README: Checks), or name a file with --file", lab.Name, path)
		}
		return nil, path, fmt.Errorf("lab %s: checks file %s (graph attribute checks) does not exist", lab.Name, path)
	}
	if err != nil {
		return nil, path, fmt.Errorf("read checks: %w", err)
	}
	checks, err := ParseChecks(path, data)
	if err != nil {
		return nil, path, err
	}
	if err := ValidateChecks(lab, path, checks); err != nil {
		return nil, path, err
	}
	return checks, path, nil
}

// ParseChecks parses a checks file; file names it in messages. Each line
// holds one check, blank lines and lines starting with # are ignored, and
// a # that starts a word begins the check's note:
//
//	[not] ping NODE TARGET
//	[not] route NODE PREFIX|default [via ADDR] [dev IFACE] [proto NAME]
//	[not] run NODE "SHELL LINE" [contains "TEXT" | matches "REGEXP"]
//	pingall [NODE...]
//
// Words are separated by blanks; '...' quotes literally, "..." quotes with
// \" and \\ as the only escapes (so regular expressions read as written).
// Every error it returns is a *ValidationError naming the lines.
func ParseChecks(file string, data []byte) ([]*Check, error) {
	p := &problems{file: displayName(file)}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []*Check
	for i, line := range strings.Split(string(data), "\n") {
		if c := parseCheckLine(strings.TrimSuffix(line, "\r"), i+1, p); c != nil {
			out = append(out, c)
		}
	}
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return out, nil
}

// word is one word of a check line.
type word struct {
	text   string
	quoted bool // some or all of it was quoted
}

// is reports whether w is the unquoted keyword kw.
func (w word) is(kw string) bool { return !w.quoted && w.text == kw }

// splitWords splits a line into words and its note, shell-like.
func splitWords(line string) (words []word, text, note string, err error) {
	i, n := 0, len(line)
	for {
		for i < n && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == n {
			return words, strings.TrimSpace(line), "", nil
		}
		if line[i] == '#' {
			return words, strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:]), nil
		}
		var b strings.Builder
		w := word{}
		for i < n && line[i] != ' ' && line[i] != '\t' {
			switch c := line[i]; c {
			case '\'':
				end := strings.IndexByte(line[i+1:], '\'')
				if end < 0 {
					return nil, "", "", fmt.Errorf("a ' quote is not closed: close it on the same line")
				}
				b.WriteString(line[i+1 : i+1+end])
				i += end + 2
				w.quoted = true
			case '"':
				i++
				closed := false
				for i < n {
					if line[i] == '\\' && i+1 < n && (line[i+1] == '"' || line[i+1] == '\\') {
						b.WriteByte(line[i+1])
						i += 2
						continue
					}
					if line[i] == '"' {
						closed = true
						i++
						break
					}
					b.WriteByte(line[i])
					i++
				}
				if !closed {
					return nil, "", "", fmt.Errorf(`a " quote is not closed: close it on the same line (write \" for a quote inside)`)
				}
				w.quoted = true
			default:
				b.WriteByte(c)
				i++
			}
		}
		w.text = b.String()
		words = append(words, w)
	}
}

var checkKinds = []string{string(CheckPing), string(CheckRoute), string(CheckRun), string(CheckPingAll)}

// checkUsage is the syntax of each kind, for messages.
var checkUsage = map[CheckKind]string{
	CheckPing:    "ping NODE TARGET (a node, NODE-IFACE or an address), e.g. ping h1 h2",
	CheckRoute:   "route NODE PREFIX [via ADDR] [dev IFACE] [proto NAME], e.g. route r1 10.0.2.0/24 via 10.0.12.2",
	CheckRun:     `run NODE "SHELL LINE" [contains "TEXT" | matches "REGEXP"], e.g. run r1 "vtysh -c 'show ip route'" contains "10.0.2.0/24"`,
	CheckPingAll: "pingall [NODE...], e.g. pingall h1 h2 h3",
}

func parseCheckLine(line string, n int, p *problems) *Check {
	words, text, note, err := splitWords(line)
	if err != nil {
		p.add(n, "", "%v", err)
		return nil
	}
	if len(words) == 0 {
		return nil
	}
	c := &Check{Line: n, Text: text, Note: note}
	if words[0].is("not") {
		c.Not = true
		words = words[1:]
		if len(words) == 0 {
			p.add(n, "", "not what? Write not before a check: not ping h1 h3")
			return nil
		}
	}
	kw := words[0]
	if kw.quoted || !slices.Contains(checkKinds, kw.text) {
		msg := fmt.Sprintf("unknown check %q: a check is ping, route, run or pingall", kw.text)
		best, bestD := "", 3
		for _, k := range append(slices.Clone(checkKinds), "not") {
			if d := editDistance(strings.ToLower(kw.text), k); d < bestD {
				best, bestD = k, d
			}
		}
		if best != "" {
			msg = fmt.Sprintf("unknown check %q: did you mean %q? A check is ping, route, run or pingall", kw.text, best)
		}
		p.add(n, "", "%s", msg)
		return nil
	}
	c.Kind = CheckKind(kw.text)
	args := words[1:]
	// usage reports a line of the wrong shape, with the syntax; bad a
	// wrong value, which says what to write itself.
	usage := func(format string, a ...any) *Check {
		p.add(n, "", "%s: %s; write %s", c.Kind, fmt.Sprintf(format, a...), checkUsage[c.Kind])
		return nil
	}
	bad := func(format string, a ...any) *Check {
		p.add(n, "", "%s: %s", c.Kind, fmt.Sprintf(format, a...))
		return nil
	}
	switch c.Kind {
	case CheckPing:
		if len(args) != 2 {
			return usage("needs a node and a target")
		}
		c.Node, c.Target = args[0].text, args[1].text
	case CheckRoute:
		if len(args) < 2 {
			return usage("needs a node and a prefix")
		}
		c.Node = args[0].text
		pfx, msg := parseCheckPrefix(args[1].text)
		if msg != "" {
			return bad("%s", msg)
		}
		c.Prefix = pfx
		rest := args[2:]
		seen := map[string]bool{}
		for len(rest) > 0 {
			opt := rest[0]
			if len(rest) < 2 || !slices.Contains([]string{"via", "dev", "proto"}, opt.text) || opt.quoted {
				return usage("unexpected %q after the prefix", opt.text)
			}
			if seen[opt.text] {
				return bad("%s is given twice", opt.text)
			}
			seen[opt.text] = true
			v := rest[1].text
			switch opt.text {
			case "via":
				a, err := netip.ParseAddr(v)
				if err != nil || a.Zone() != "" {
					return bad("via %q is not an IP address", v)
				}
				if a.Is4() != pfx.Addr().Is4() {
					return bad("via %s and %s are not of the same IP family", a, pfx)
				}
				c.Via = a
			case "dev":
				if !validName(v, maxIfaceLen) {
					return bad("dev %q is not an interface name", v)
				}
				c.Dev = v
			case "proto":
				if !slices.Contains(routeProtos, v) {
					if _, err := strconv.ParseUint(v, 10, 8); err != nil {
						return bad("proto %q: use one of %s, or a number", v, strings.Join(routeProtos, ", "))
					}
				}
				c.Proto = v
			}
			rest = rest[2:]
		}
	case CheckRun:
		if len(args) < 2 {
			return usage("needs a node and a shell line")
		}
		c.Node, c.Command = args[0].text, args[1].text
		if strings.TrimSpace(c.Command) == "" {
			return bad("the shell line is empty")
		}
		rest := args[2:]
		switch {
		case len(rest) == 0:
		case len(rest) == 2 && rest[0].is("contains"):
			if rest[1].text == "" {
				return bad(`contains "" is always true`)
			}
			c.Contains = rest[1].text
		case len(rest) == 2 && rest[0].is("matches"):
			re, err := regexp.Compile("(?m)" + rest[1].text)
			if err != nil {
				return bad("matches %q is not a regular expression: %v", rest[1].text, err)
			}
			c.Match = re
		case !args[1].quoted:
			return bad("quote the shell line: run %s \"%s\"", c.Node, joinWords(args[1:]))
		default:
			return usage("after the shell line comes contains \"TEXT\" or matches \"REGEXP\", not %q", joinWords(rest))
		}
	case CheckPingAll:
		if c.Not {
			p.add(n, "", `not pingall says nothing useful: write "not ping A B" for each pair that must not reach`)
			return nil
		}
		seen := map[string]bool{}
		for _, a := range args {
			if seen[a.text] {
				return bad("%s is named twice", a.text)
			}
			seen[a.text] = true
			c.Nodes = append(c.Nodes, a.text)
		}
		if len(c.Nodes) == 1 {
			return usage("one node has no pair: name at least two, or none for every host")
		}
	}
	return c
}

func joinWords(ws []word) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.text
	}
	return strings.Join(s, " ")
}

// parseCheckPrefix reads a route check's destination: a prefix or
// "default" (the IPv4 default route; default6 is IPv6's). It returns a
// message saying what to write when s is neither.
func parseCheckPrefix(s string) (netip.Prefix, string) {
	switch s {
	case "default":
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), ""
	case "default6":
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0), ""
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.Prefix{}, fmt.Sprintf("%s is an address, not a prefix: write %s/%d for a host route, or the network's prefix", s, s, a.BitLen())
		}
		return netip.Prefix{}, fmt.Sprintf("%q is not a prefix (such as 10.0.2.0/24) nor default", s)
	}
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Sprintf("%s has host bits set: did you mean %s?", s, pfx.Masked())
	}
	return pfx, ""
}

// ValidateChecks checks every node, interface and target the checks name
// against the lab. file names the checks file in messages.
func ValidateChecks(lab *Lab, file string, checks []*Check) error {
	p := &problems{file: displayName(file)}
	nodeNames := func() string {
		names := make([]string, len(lab.Nodes))
		for i, n := range lab.Nodes {
			names[i] = n.Name
		}
		return strings.Join(names, ", ")
	}
	node := func(c *Check, name string) *Node {
		n := lab.Node(name)
		if n == nil {
			p.add(c.Line, "", "%s: lab %s has no node %q (nodes: %s)", c.Kind, lab.Name, name, nodeNames())
		}
		return n
	}
	for _, c := range checks {
		switch c.Kind {
		case CheckPing:
			node(c, c.Node)
			if _, _, err := ResolveTarget(lab, c.Target); err != nil {
				p.add(c.Line, "", "ping: %v", err)
			}
		case CheckRoute:
			n := node(c, c.Node)
			if n != nil && c.Dev != "" && c.Dev != "lo" && n.Iface(c.Dev) == nil && (n.Kind != KindBridge || c.Dev != "br0") {
				var names []string
				for _, i := range n.Ifaces {
					names = append(names, i.Name)
				}
				p.add(c.Line, "", "route: node %s has no interface %q (it has %s)", n.Name, c.Dev, strings.Join(names, ", "))
			}
		case CheckRun:
			node(c, c.Node)
		case CheckPingAll:
			for _, name := range c.Nodes {
				if n := node(c, name); n != nil && nodeAddr(n) == (netip.Addr{}) {
					p.add(c.Line, "", "pingall: node %s has no address to ping", name)
				}
			}
			if len(c.Nodes) == 0 && len(PingAllNodes(lab, c)) < 2 {
				p.add(c.Line, "", "pingall: lab %s has fewer than two nodes with an address: name the nodes", lab.Name)
			}
		}
	}
	if len(p.list) > 0 {
		return p.err()
	}
	return nil
}

// PingAllNodes returns the nodes a pingall check pings between: those it
// names, else every host with an address, else (fewer than two hosts)
// every node with an address.
func PingAllNodes(lab *Lab, c *Check) []string {
	if len(c.Nodes) > 0 {
		return c.Nodes
	}
	var hosts, all []string
	for _, n := range lab.Nodes {
		if nodeAddr(n) == (netip.Addr{}) {
			continue
		}
		all = append(all, n.Name)
		if n.Kind == KindHost {
			hosts = append(hosts, n.Name)
		}
	}
	if len(hosts) >= 2 {
		return hosts
	}
	return all
}

// nodeAddr is the address a node's name stands for, as in the lab's
// /etc/hosts (see HostsFile): its first IPv4 address, else its first IPv6
// address; zero when it has none.
func nodeAddr(n *Node) netip.Addr {
	var v6 netip.Addr
	for _, i := range n.Ifaces {
		for _, a := range i.Addrs {
			if a.Addr().Is4() {
				return a.Addr()
			}
			if !v6.IsValid() {
				v6 = a.Addr()
			}
		}
	}
	return v6
}

// ResolveTarget returns the address a ping target stands for: an address
// is itself, a node name the node's address (see nodeAddr), NODE-IFACE the
// interface's first address. label says how messages show it: "h2
// (10.0.2.2)".
func ResolveTarget(lab *Lab, target string) (netip.Addr, string, error) {
	if a, err := netip.ParseAddr(target); err == nil {
		return a, a.String(), nil
	}
	if n := lab.Node(target); n != nil {
		a := nodeAddr(n)
		if !a.IsValid() {
			return a, "", fmt.Errorf("node %s has no address to ping (a bridge? ping one of the nodes on it)", target)
		}
		return a, fmt.Sprintf("%s (%s)", target, a), nil
	}
	for _, n := range lab.Nodes {
		name, ifname, ok := strings.Cut(target, n.Name+"-")
		if !ok || name != "" {
			continue
		}
		if i := n.Iface(ifname); i != nil && len(i.Addrs) > 0 {
			return i.Addrs[0].Addr(), fmt.Sprintf("%s (%s)", target, i.Addrs[0].Addr()), nil
		}
	}
	return netip.Addr{}, "", fmt.Errorf("%q is not a node of lab %s, nor NODE-IFACE, nor an IP address", target, lab.Name)
}

// Expected says in words what a check expects, for its result row.
func (c *Check) Expected(lab *Lab) string {
	switch c.Kind {
	case CheckPing:
		_, label, _ := ResolveTarget(lab, c.Target)
		if c.Not {
			return "no reply from " + label
		}
		return "a reply from " + label
	case CheckRoute:
		s := c.routeText()
		if c.Not {
			return "no route " + s
		}
		return "a route " + s
	case CheckRun:
		// Quoted as written, not escaped as Go would.
		switch {
		case c.Contains != "" && c.Not:
			return `output without "` + c.Contains + `"`
		case c.Contains != "":
			return `output containing "` + c.Contains + `"`
		case c.Match != nil && c.Not:
			return `output not matching "` + c.Pattern() + `"`
		case c.Match != nil:
			return `output matching "` + c.Pattern() + `"`
		case c.Not:
			return "a non-zero exit status"
		}
		return "exit status 0"
	case CheckPingAll:
		nodes := PingAllNodes(lab, c)
		return fmt.Sprintf("all %d pairs of %s reply", len(nodes)*(len(nodes)-1), strings.Join(nodes, " "))
	}
	return ""
}

// Pattern is a run check's regular expression as written.
func (c *Check) Pattern() string {
	if c.Match == nil {
		return ""
	}
	return strings.TrimPrefix(c.Match.String(), "(?m)")
}

// routeText is the route a route check looks for, in ip route's words.
func (c *Check) routeText() string {
	s := c.Prefix.String()
	if c.Prefix.Bits() == 0 {
		s = "default"
		if c.Prefix.Addr().Is6() {
			s = "default (IPv6)"
		}
	}
	if c.Via.IsValid() {
		s += " via " + c.Via.String()
	}
	if c.Dev != "" {
		s += " dev " + c.Dev
	}
	if c.Proto != "" {
		s += " proto " + c.Proto
	}
	return s
}
