package topo

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseChecksGood(t *testing.T) {
	src := "\xef\xbb\xbf# a comment line\n" +
		"\n" +
		"ping h1 h2\n" +
		"  not ping h1 10.9.0.1   # nobody there\n" +
		"route r1 10.0.2.0/24 via 10.0.12.2 dev eth1 proto ospf\r\n" +
		"not route r1 default\n" +
		"route r1 default6 via fd00::1\n" +
		"route r1 fd00:2::/64 proto 188\n" +
		`run r1 "vtysh -c 'show ip ospf neighbor'" contains "Full"` + "\n" +
		`run r1 'echo "#x"' matches "^\d+\.\d \"q\" \\ #"` + "\n" +
		`not run h1 "test -e /tmp/x"` + "\n" +
		"pingall\n" +
		"pingall h1 h2 h3 # the hosts\n"
	checks, err := ParseChecks("lab.checks", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Check{
		{Line: 3, Text: "ping h1 h2", Kind: CheckPing, Node: "h1", Target: "h2"},
		{Line: 4, Text: "not ping h1 10.9.0.1", Note: "nobody there", Kind: CheckPing, Not: true, Node: "h1", Target: "10.9.0.1"},
		{Line: 5, Text: "route r1 10.0.2.0/24 via 10.0.12.2 dev eth1 proto ospf", Kind: CheckRoute, Node: "r1",
			Prefix: netip.MustParsePrefix("10.0.2.0/24"), Via: netip.MustParseAddr("10.0.12.2"), Dev: "eth1", Proto: "ospf"},
		{Line: 6, Text: "not route r1 default", Kind: CheckRoute, Not: true, Node: "r1", Prefix: netip.MustParsePrefix("0.0.0.0/0")},
		{Line: 7, Text: "route r1 default6 via fd00::1", Kind: CheckRoute, Node: "r1", Prefix: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("fd00::1")},
		{Line: 8, Text: "route r1 fd00:2::/64 proto 188", Kind: CheckRoute, Node: "r1", Prefix: netip.MustParsePrefix("fd00:2::/64"), Proto: "188"},
		{Line: 9, Text: `run r1 "vtysh -c 'show ip ospf neighbor'" contains "Full"`, Kind: CheckRun, Node: "r1",
			Command: "vtysh -c 'show ip ospf neighbor'", Contains: "Full"},
		{Line: 10, Text: `run r1 'echo "#x"' matches "^\d+\.\d \"q\" \\ #"`, Kind: CheckRun, Node: "r1", Command: `echo "#x"`},
		{Line: 11, Text: `not run h1 "test -e /tmp/x"`, Kind: CheckRun, Not: true, Node: "h1", Command: "test -e /tmp/x"},
		{Line: 12, Text: "pingall", Kind: CheckPingAll},
		{Line: 13, Text: "pingall h1 h2 h3", Note: "the hosts", Kind: CheckPingAll, Nodes: []string{"h1", "h2", "h3"}},
	}
	if len(checks) != len(want) {
		t.Fatalf("got %d checks, want %d: %+v", len(checks), len(want), checks)
	}
	for i, c := range checks {
		got := *c
		got.Match = nil
		if !equalCheck(got, want[i]) {
			t.Errorf("check %d:\ngot  %+v\nwant %+v", i, got, want[i])
		}
	}
	// Inside double quotes only \" and \\ are escapes: the regular
	// expression keeps \d and \. as written; ^ matches at each line.
	if p := checks[7].Pattern(); p != `^\d+\.\d "q" \ #` {
		t.Errorf("pattern %q", p)
	}
	if !checks[7].Match.MatchString("x\n12.3 \"q\"  #") {
		t.Error("pattern does not match at the start of the second line")
	}
}

func equalCheck(a, b Check) bool {
	return a.Line == b.Line && a.Text == b.Text && a.Note == b.Note && a.Kind == b.Kind && a.Not == b.Not &&
		a.Node == b.Node && a.Target == b.Target && a.Prefix == b.Prefix && a.Via == b.Via && a.Dev == b.Dev &&
		a.Proto == b.Proto && a.Command == b.Command && a.Contains == b.Contains && slices.Equal(a.Nodes, b.Nodes)
}

func TestParseChecksBad(t *testing.T) {
	for _, c := range []struct {
		src, want string // want: the whole first message, file and line included
	}{
		{"ping h1 h2\npnig h1 h2", `x.checks:2: unknown check "pnig": did you mean "ping"? A check is ping, route, run or pingall`},
		{"traceroute h1 h2", `x.checks:1: unknown check "traceroute": a check is ping, route, run or pingall`},
		{`"ping" h1 h2`, `x.checks:1: unknown check "ping": did you mean "ping"?`},
		{"\n\nping h1", `x.checks:3: ping: needs a node and a target; write ping NODE TARGET`},
		{"ping h1 h2 h3", `x.checks:1: ping: needs a node and a target; write`},
		{"not", `x.checks:1: not what? Write not before a check: not ping h1 h3`},
		{"not # a note", `x.checks:1: not what?`},
		{"route r1", `x.checks:1: route: needs a node and a prefix; write route NODE PREFIX`},
		{"route r1 10.0.2.1/24", `x.checks:1: route: 10.0.2.1/24 has host bits set: did you mean 10.0.2.0/24?`},
		{"route r1 10.0.2.1", `x.checks:1: route: 10.0.2.1 is an address, not a prefix: write 10.0.2.1/32 for a host route`},
		{"route r1 lan2", `x.checks:1: route: "lan2" is not a prefix (such as 10.0.2.0/24) nor default`},
		{"route r1 10.0.2.0/24 via", `x.checks:1: route: unexpected "via" after the prefix`},
		{"route r1 10.0.2.0/24 through r2", `x.checks:1: route: unexpected "through" after the prefix`},
		{"route r1 10.0.2.0/24 via r2", `x.checks:1: route: via "r2" is not an IP address`},
		{"route r1 10.0.2.0/24 via fd00::1", `x.checks:1: route: via fd00::1 and 10.0.2.0/24 are not of the same IP family`},
		{"route r1 10.0.2.0/24 proto osfp", `x.checks:1: route: proto "osfp": use one of babel, bgp,`},
		{"route r1 10.0.2.0/24 via 10.0.12.2 via 10.0.12.3", `x.checks:1: route: via is given twice`},
		{"route r1 10.0.2.0/24 dev eth0/1", `x.checks:1: route: dev "eth0/1" is not an interface name`},
		{"run r1", `x.checks:1: run: needs a node and a shell line`},
		{`run r1 ""`, `x.checks:1: run: the shell line is empty`},
		{"run r1 ip route show", `x.checks:1: run: quote the shell line: run r1 "ip route show"`},
		{`run r1 "ip route" has "x"`, `x.checks:1: run: after the shell line comes contains "TEXT" or matches "REGEXP", not "has x"`},
		{`run r1 "ip route" contains`, `x.checks:1: run: after the shell line comes contains "TEXT" or matches "REGEXP", not "contains"`},
		{`run r1 "ip route" contains ""`, `x.checks:1: run: contains "" is always true`},
		{`run r1 "ip route" matches "a(b"`, `x.checks:1: run: matches "a(b" is not a regular expression: error parsing regexp`},
		{`run r1 "ip route`, `x.checks:1: a " quote is not closed: close it on the same line`},
		{`run r1 'ip route`, `x.checks:1: a ' quote is not closed`},
		{"not pingall", `x.checks:1: not pingall says nothing useful`},
		{"pingall h1", `x.checks:1: pingall: one node has no pair`},
		{"pingall h1 h2 h1", `x.checks:1: pingall: h1 is named twice`},
	} {
		_, err := ParseChecks("x.checks", []byte(c.src))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%q: error %v, want a *ValidationError", c.src, err)
			continue
		}
		if got := ve.Problems[0].Format(ve.File); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q:\ngot  %s\nwant %s...", c.src, got, c.want)
		}
	}
}

// Every bad line is reported, each with its own line, in one error.
func TestParseChecksAllProblems(t *testing.T) {
	_, err := ParseChecks("x.checks", []byte("ping h1\nping h1 h2\nroute r1 x\n"))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Line != 1 || ve.Problems[1].Line != 3 {
		t.Fatalf("got %v", err)
	}
}

const checkLabDOT = `graph t {
    subnet="none"
    r1 [kind=router]
    sw [kind=bridge]
    h1 -- r1 [tailip="10.0.1.2/24", headip="10.0.1.1/24"]
    r1 -- h2 [tailip="10.0.2.1/24, fd00:2::1/64", headip="10.0.2.2/24, fd00:2::2/64"]
    h3 -- sw [tailip="fd00:3::3/64"]
    h4 -- sw [tailip="fd00:3::4/64"]
}
`

func checkLab(t *testing.T) *Lab {
	t.Helper()
	lab, err := Parse("t.dot", []byte(checkLabDOT), "")
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

func TestValidateChecks(t *testing.T) {
	lab := checkLab(t)
	good := "ping h1 h2\nping h1 r1-eth1\nping h3 h4\nping h1 192.0.2.1\nroute r1 10.0.2.0/24 dev eth1\nroute sw default dev br0\n" +
		"route r1 default dev lo\nrun sw \"true\"\npingall\npingall h1 r1 h4"
	checks, err := ParseChecks("t.checks", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateChecks(lab, "t.checks", checks); err != nil {
		t.Errorf("good checks: %v", err)
	}
	for _, c := range []struct{ src, want string }{
		{"ping h9 h1", `t.checks:1: ping: lab t has no node "h9" (nodes: r1, sw, h1, h2, h3, h4)`},
		{"ping h1 h9", `t.checks:1: ping: "h9" is not a node of lab t, nor NODE-IFACE, nor an IP address`},
		{"ping h1 r1-eth7", `t.checks:1: ping: "r1-eth7" is not a node of lab t`},
		{"ping h1 sw", `t.checks:1: ping: node sw has no address to ping`},
		{"route r1 10.0.2.0/24 dev eth5", `t.checks:1: route: node r1 has no interface "eth5" (it has eth0, eth1)`},
		{"route r1 10.0.2.0/24 dev br0", `t.checks:1: route: node r1 has no interface "br0"`},
		{`run x "true"`, `t.checks:1: run: lab t has no node "x"`},
		{"pingall h1 sw", `t.checks:1: pingall: node sw has no address to ping`},
	} {
		checks, err := ParseChecks("t.checks", []byte(c.src))
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		err = ValidateChecks(lab, "t.checks", checks)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%q: error %v, want a *ValidationError", c.src, err)
			continue
		}
		if got := ve.Problems[0].Format(ve.File); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q:\ngot  %s\nwant %s...", c.src, got, c.want)
		}
	}
}

func TestResolveTarget(t *testing.T) {
	lab := checkLab(t)
	for _, c := range []struct{ target, addr, label string }{
		{"h2", "10.0.2.2", "h2 (10.0.2.2)"},   // the first IPv4 address, as /etc/hosts has it
		{"r1", "10.0.1.1", "r1 (10.0.1.1)"},   // a router: its first interface's
		{"h3", "fd00:3::3", "h3 (fd00:3::3)"}, // no IPv4: the first IPv6 address
		{"r1-eth1", "10.0.2.1", "r1-eth1 (10.0.2.1)"},
		{"10.9.0.1", "10.9.0.1", "10.9.0.1"},
	} {
		a, label, err := ResolveTarget(lab, c.target)
		if err != nil || a.String() != c.addr || label != c.label {
			t.Errorf("%s: got %s %q %v, want %s %q", c.target, a, label, err, c.addr, c.label)
		}
	}
}

func TestPingAllNodes(t *testing.T) {
	lab := checkLab(t)
	if got := PingAllNodes(lab, &Check{Kind: CheckPingAll}); !slices.Equal(got, []string{"h1", "h2", "h3", "h4"}) {
		t.Errorf("every host: got %v", got)
	}
	if got := PingAllNodes(lab, &Check{Kind: CheckPingAll, Nodes: []string{"r1", "h1"}}); !slices.Equal(got, []string{"r1", "h1"}) {
		t.Errorf("named: got %v", got)
	}
	// Fewer than two hosts: every node with an address.
	lab2, err := Parse("u.dot", []byte(`graph u { r1 [kind=router]; r2 [kind=router]; h1; r1 -- r2; r2 -- h1 }`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := PingAllNodes(lab2, &Check{Kind: CheckPingAll}); !slices.Equal(got, []string{"r1", "r2", "h1"}) {
		t.Errorf("no hosts: got %v", got)
	}
}

func TestExpected(t *testing.T) {
	lab := checkLab(t)
	src := "ping h1 h2\nnot ping h1 10.9.0.1\nroute r1 10.0.2.0/24 via 10.0.12.2 proto ospf\nnot route r1 default\n" +
		`run r1 "x" contains "Full"` + "\n" + `not run r1 "x" matches "^a\.b"` + "\n" + `run r1 "x"` + "\n" + `not run r1 "x"` + "\npingall h1 h2 h3\n"
	checks, err := ParseChecks("t.checks", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a reply from h2 (10.0.2.2)",
		"no reply from 10.9.0.1",
		"a route 10.0.2.0/24 via 10.0.12.2 proto ospf",
		"no route default",
		`output containing "Full"`,
		`output not matching "^a\.b"`,
		"exit status 0",
		"a non-zero exit status",
		"all 6 pairs of h1 h2 h3 reply",
	}
	for i, c := range checks {
		if got := c.Expected(lab); got != want[i] {
			t.Errorf("%s: expected %q, want %q", c.Text, got, want[i])
		}
	}
}

func TestChecksFile(t *testing.T) {
	dir := t.TempDir()
	dot := filepath.Join(dir, "lab.dot")
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lab.dot", "graph lab { a -- b }\n")
	lab, err := Load(dot, "")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := ChecksFile(lab); err != nil || f != filepath.Join(dir, "lab.checks") {
		t.Errorf("default: %s %v", f, err)
	}
	if _, _, err := LoadChecks(lab, ""); err == nil || !strings.Contains(err.Error(), "declares no checks: write them in "+filepath.Join(dir, "lab.checks")) {
		t.Errorf("missing default file: %v", err)
	}
	write("lab.checks", "ping a b\n")
	if checks, f, err := LoadChecks(lab, ""); err != nil || len(checks) != 1 || f != filepath.Join(dir, "lab.checks") {
		t.Errorf("default file: %v %s %v", checks, f, err)
	}
	write("bad.checks", "ping a\nping a c\n")
	_, _, err = LoadChecks(lab, filepath.Join(dir, "bad.checks"))
	if err == nil || !strings.Contains(err.Error(), "bad.checks:1: ping: needs a node and a target") {
		t.Errorf("bad file: %v", err)
	}

	// The graph attribute, relative to the DOT file's folder.
	if err := os.Mkdir(filepath.Join(dir, "solution"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("solution/lab.dot", "graph lab { checks=\"../lab.checks\"; a -- b }\n")
	sol, err := Load(filepath.Join(dir, "solution", "lab.dot"), "")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := ChecksFile(sol); err != nil || f != filepath.Join(dir, "lab.checks") {
		t.Errorf("checks attribute: %s %v", f, err)
	}
	write("solution/lab.dot", "graph lab { checks=\"gone.checks\"; a -- b }\n")
	if sol, err = Load(filepath.Join(dir, "solution", "lab.dot"), ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadChecks(sol, ""); err == nil || !strings.Contains(err.Error(), "(graph attribute checks) does not exist") {
		t.Errorf("missing attribute file: %v", err)
	}

	// A lab read from stdin has no file to put its checks beside.
	stdin, err := Parse("-", []byte("graph s { a -- b }"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ChecksFile(stdin); err == nil || !strings.Contains(err.Error(), "--file") {
		t.Errorf("stdin: %v", err)
	}
}
