package topo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, path string) *Lab {
	t.Helper()
	lab, err := Load(path, "")
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return lab
}

// addrs returns node:iface's addresses as strings.
func addrsOf(t *testing.T, lab *Lab, node, iface string) []string {
	t.Helper()
	n := lab.Node(node)
	if n == nil {
		t.Fatalf("no node %s", node)
	}
	i := n.Iface(iface)
	if i == nil {
		t.Fatalf("node %s has no interface %s (has %s)", node, iface, ifaceList(n))
	}
	var out []string
	for _, a := range i.Addrs {
		out = append(out, a.String())
	}
	return out
}

func nodeNames(lab *Lab) []string {
	var out []string
	for _, n := range lab.Nodes {
		out = append(out, n.Name)
	}
	return out
}

func linkNames(lab *Lab) []string {
	var out []string
	for _, l := range lab.Links {
		out = append(out, l.String())
	}
	return out
}

func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func wantSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestGoodFiles asserts key facts of every file in testdata/good; a file
// without an entry only has to parse.
func TestGoodFiles(t *testing.T) {
	checks := map[string]func(t *testing.T, lab *Lab){
		"basic.dot": func(t *testing.T, lab *Lab) {
			wantEqual(t, "name", lab.Name, "basic-1")
			wantSlice(t, "nodes", nodeNames(lab), []string{"r1", "h1", "h2", "r2", "r3"})
			r1 := lab.Node("r1")
			wantEqual(t, "r1 kind", r1.Kind, KindRouter)
			wantSlice(t, "r1 exec", r1.Exec, []string{"echo one", "echo two", "echo three", "echo four"})
			wantEqual(t, "r1 color", r1.Attrs["color"], "red")
			wantEqual(t, "r1 shape (node default)", r1.Attrs["shape"], "box")
			// h1 existed before the subgraph mentioned it: its defaults
			// do not apply to it.
			wantEqual(t, "h1 kind", lab.Node("h1").Kind, KindHost)
			wantEqual(t, "r2 kind", lab.Node("r2").Kind, KindRouter)
			wantEqual(t, "r3 kind", lab.Node("r3").Kind, KindRouter)
			wantSlice(t, "links", linkNames(lab), []string{"h1:eth0--r1:eth0", "h2:eth0--r1:eth1", "r2:eth0--r3:eth0", "r1:eth2--r2:eth1"})
			var lines []int
			for _, l := range lab.Links {
				lines = append(lines, l.Line)
			}
			wantSlice(t, "link lines", lines, []int{10, 10, 15, 17})
			wantEqual(t, "rate from edge defaults", lab.Links[0].Rate, uint64(10e6))
			wantEqual(t, "rate set on the edge", lab.Links[2].Rate, uint64(1e9))
			wantEqual(t, "edge label", lab.Links[2].Attrs["label"], "fast")
			wantEqual(t, "graph label", lab.Attrs["label"], "a test lab")
			wantEqual(t, "subnet", lab.Subnet, netip.MustParsePrefix("10.0.0.0/16"))
			abs, _ := filepath.Abs("testdata/good/basic.dot")
			wantEqual(t, "file", lab.File, abs)
			wantEqual(t, "dir", lab.Dir, filepath.Dir(abs))
		},
		"strict.dot": func(t *testing.T, lab *Lab) {
			wantSlice(t, "links", linkNames(lab), []string{"a:eth0--b:eth0", "a:eth1--c:eth0"})
			l := lab.Links[0]
			wantEqual(t, "rate", l.Rate, uint64(1e6))
			wantEqual(t, "mtu", l.MTU, 9000)
			wantSlice(t, "b (tail of the reversed edge)", addrsOf(t, lab, "b", "eth0"), []string{"10.9.0.2/24"})
			wantSlice(t, "a (filled from b's prefix)", addrsOf(t, lab, "a", "eth0"), []string{"10.9.0.1/24"})
		},
		"ports.dot": func(t *testing.T, lab *Lab) {
			wantEqual(t, "r1 interfaces", ifaceList(lab.Node("r1")), "eth0, eth1, uplink, eth2")
			wantEqual(t, "h4 interfaces", ifaceList(lab.Node("h4")), "e-4")
		},
		"addressing.dot": func(t *testing.T, lab *Lab) {
			wantSlice(t, "h3", addrsOf(t, lab, "h3", "eth0"), []string{"192.168.50.10/24"})
			wantSlice(t, "h1", addrsOf(t, lab, "h1", "eth0"), []string{"192.168.50.1/24"})
			wantSlice(t, "h2 (other bridge, same LAN)", addrsOf(t, lab, "h2", "eth0"), []string{"192.168.50.2/24"})
			wantSlice(t, "r1 to h5", addrsOf(t, lab, "r1", "eth0"), []string{"192.168.0.1/30"})
			wantSlice(t, "h5", addrsOf(t, lab, "h5", "eth0"), []string{"192.168.0.2/30"})
			wantSlice(t, "r1 to h4", addrsOf(t, lab, "r1", "eth1"), []string{"172.16.0.1/30"})
			wantSlice(t, "bridge", addrsOf(t, lab, "sw1", "eth0"), nil)
		},
		"node_attrs.dot": func(t *testing.T, lab *Lab) {
			h1 := lab.Node("h1")
			dir, _ := filepath.Abs("testdata/good")
			wantSlice(t, "mounts", h1.Mounts, []Mount{
				{Src: filepath.Join(dir, "shared"), Dst: "/srv", ReadOnly: true},
				{Src: "/tmp", Dst: "/hosttmp"},
			})
			wantEqual(t, "image", h1.Image, filepath.Join(dir, "rootfs"))
			wantSlice(t, "env", h1.Env, []string{"A=1", "B=x=y"})
			wantSlice(t, "sysctls", h1.Sysctls, []Sysctl{{"net.ipv4.tcp_ecn", "1"}, {"net.core.somaxconn", "1024"}})
			wantEqual(t, "h1 userns", h1.UserNS, true)
			wantEqual(t, "h2 userns (bare attribute)", lab.Node("h2").UserNS, true)
		},
		"ipv6_small_pool.dot": func(t *testing.T, lab *Lab) {
			wantSlice(t, "a", addrsOf(t, lab, "a", "eth0"), []string{"10.0.0.1/30", "fd00:1::1/126"})
			wantSlice(t, "b", addrsOf(t, lab, "b", "eth0"), []string{"10.0.0.2/30", "fd00:1::2/126"})
			wantSlice(t, "c", addrsOf(t, lab, "c", "eth0"), []string{"10.0.1.1/24", "fd00:1::101/120"})
			wantSlice(t, "d", addrsOf(t, lab, "d", "eth0"), []string{"10.0.1.2/24", "fd00:1::102/120"})
			wantEqual(t, "uses IPv6", lab.UsesIPv6(), true)
		},
		"routes.dot": func(t *testing.T, lab *Lab) {
			rs := lab.Node("h1").Routes
			if len(rs) != 4 {
				t.Fatalf("routes %+v", rs)
			}
			wantEqual(t, "default", rs[0].Dst, netip.MustParsePrefix("0.0.0.0/0"))
			wantEqual(t, "metric", rs[0].Metric, 100)
			wantEqual(t, "bare address", rs[1].Dst, netip.MustParsePrefix("10.9.9.9/32"))
			wantEqual(t, "dev route", rs[2].Dev, "eth0")
			wantEqual(t, "dev route via", rs[2].Via.IsValid(), false)
			wantEqual(t, "v6 default", rs[3].Dst, netip.MustParsePrefix("::/0"))
			wantEqual(t, "text", rs[3].Text, "::/0 via fe80::1 dev eth0")
		},
		"graphviz.dot": func(t *testing.T, lab *Lab) {
			wantEqual(t, "name", lab.Name, "drawing")
			wantSlice(t, "links", linkNames(lab), []string{"h1:eth0--r1:eth0", "r1:eth1--h2:eth0"})
			wantEqual(t, "html label", lab.Node("r1").Attrs["label"], "<<b>r1</b>>")
			wantEqual(t, "pos", lab.Node("h1").Attrs["pos"], "1,0!")
			wantEqual(t, "shape default", lab.Node("h2").Attrs["shape"], "circle")
			wantEqual(t, "graph attr", lab.Attrs["bgcolor"], "white")
			wantEqual(t, "line", lab.Links[1].Line, 9)
		},
		"edge_attrs.dot": func(t *testing.T, lab *Lab) {
			l := lab.Links[0]
			want := Impair{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.5, Rate: 1572864}
			wantEqual(t, "impair", l.Impair, want)
			wantEqual(t, "mtu", l.MTU, 9000)
			wantEqual(t, "down", l.Down, true)
			l = lab.Links[1]
			wantEqual(t, "impair", l.Impair, Impair{Loss: 1, Rate: 80e6})
			wantEqual(t, "down", l.Down, false)
		},
	}
	files, _ := filepath.Glob("testdata/good/*.dot")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if filepath.Base(f) == "image.dot" {
				if _, err := os.Stat("../build/rootfs"); err != nil {
					t.Skip("needs ../build/rootfs (make rootfs builds it)")
				}
			}
			lab := mustLoad(t, f)
			checkInvariants(t, lab)
			if c := checks[filepath.Base(f)]; c != nil {
				c(t, lab)
			}
		})
	}
}

// TestExamples loads every example and checks the facts other packages'
// tests rely on.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.dot")
	if len(files) < 5 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if filepath.Base(f) == "image.dot" {
				if _, err := os.Stat("../build/rootfs"); err != nil {
					t.Skip("needs ../build/rootfs (make rootfs builds it)")
				}
			}
			lab := mustLoad(t, f)
			checkInvariants(t, lab)
			wantEqual(t, "name", lab.Name, strings.TrimSuffix(filepath.Base(f), ".dot"))
			b, _ := os.ReadFile(f)
			if !strings.HasPrefix(string(b), "// ") {
				t.Error("an example starts with a // comment saying what it shows")
			}
		})
	}
	q := mustLoad(t, "../examples/quickstart.dot")
	wantSlice(t, "quickstart h2", addrsOf(t, q, "h2", "eth0"), []string{"10.0.2.2/24"})
	wantSlice(t, "quickstart h1", addrsOf(t, q, "h1", "eth0"), []string{"10.0.1.2/24"})
	wantEqual(t, "quickstart r1", q.Node("r1").Kind, KindRouter)
	d := mustLoad(t, "../examples/dualstack.dot")
	wantSlice(t, "dualstack h3", addrsOf(t, d, "h3", "eth0"), []string{"10.0.0.2/30", "fd00:0:0:100::2/64"})
	wantSlice(t, "dualstack h1", addrsOf(t, d, "h1", "eth0"), []string{"10.0.1.2/24", "fd00:0:0:1::2/64"})
	i := mustLoad(t, "../examples/impaired.dot")
	for _, l := range i.Links {
		if l.NeedsNetem() {
			t.Errorf("impaired.dot: %s needs netem; keep delay and loss commented out", l)
		}
	}
}

// TestBadFiles checks that each file in testdata/bad fails with every
// message its "// want:" lines name.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.dot")
	if len(files) < 40 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, l := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(l, "// want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("no // want: line")
			}
			_, err = Parse(f, data, "")
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want a *ValidationError", err, err)
			}
			msg := err.Error()
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q; got:\n%s", w, msg)
				}
			}
			for _, p := range ve.Problems {
				if p.Msg == "" {
					t.Errorf("empty problem %+v", p)
				}
			}
		})
	}
}

func TestThreeProblemsAtOnce(t *testing.T) {
	_, err := Load("testdata/bad/three_problems.dot", "")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if len(ve.Problems) != 3 {
		t.Fatalf("%d problems, want 3:\n%v", len(ve.Problems), err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "testdata/bad/three_problems.dot:5: node \"r1\": ") {
		t.Errorf("error text:\n%s", err)
	}
}

func TestStdinAndNames(t *testing.T) {
	src := []byte("graph { a -- b }")
	_, err := Parse("-", src, "")
	if err == nil || !strings.Contains(err.Error(), "stdin:1: graph: a lab read from stdin needs a name: write graph NAME { ... } or use --name") {
		t.Errorf("stdin without a name: %v", err)
	}
	lab, err := Parse("", src, "piped")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	wantEqual(t, "name", lab.Name, "piped")
	wantEqual(t, "file", lab.File, "")
	wantEqual(t, "dir", lab.Dir, wd)

	lab, err = Parse("-", []byte("graph named { a -- b }"), "")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "graph ID", lab.Name, "named")

	// The file name when the graph has no ID.
	lab, err = Parse("dir/my-lab.dot", src, "")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "from the file name", lab.Name, "my-lab")

	// --name wins, and the MACs follow it.
	a, _ := Parse("x.dot", []byte("graph named { a -- b }"), "")
	b, _ := Parse("x.dot", []byte("graph named { a -- b }"), "other")
	wantEqual(t, "override", b.Name, "other")
	if a.Nodes[0].Ifaces[0].MAC == b.Nodes[0].Ifaces[0].MAC {
		t.Error("two labs with the same node names got the same MAC")
	}
	if _, err := Parse("x.dot", src, "bad name"); err == nil || !strings.Contains(err.Error(), `lab name "bad name" (from --name)`) {
		t.Errorf("bad --name: %v", err)
	}
	if _, err := Parse("my lab.dot", src, ""); err == nil || !strings.Contains(err.Error(), `lab name "my lab" (from the file name)`) {
		t.Errorf("bad file name: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/no-such-file.dot", "")
	var ve *ValidationError
	if err == nil || errors.As(err, &ve) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestMACs(t *testing.T) {
	lab := mustLoad(t, "../examples/lan.dot")
	seen := map[string]bool{}
	for _, n := range lab.Nodes {
		for _, i := range n.Ifaces {
			if !strings.HasPrefix(i.MAC, "02:") || len(i.MAC) != 17 {
				t.Errorf("%s:%s MAC %q", n.Name, i.Name, i.MAC)
			}
			if seen[i.MAC] {
				t.Errorf("duplicate MAC %s", i.MAC)
			}
			seen[i.MAC] = true
		}
	}
	again := mustLoad(t, "../examples/lan.dot")
	wantEqual(t, "stable MAC", again.Nodes[1].Ifaces[0].MAC, lab.Nodes[1].Ifaces[0].MAC)
}

func TestAttributeTable(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Attributes {
		if seen[a.Name] || a.Doc == "" || a.Example == "" {
			t.Errorf("attribute %+v: duplicate or undocumented", a)
		}
		seen[a.Name] = true
		// Every example value must itself be valid DOT.
		if _, err := Parse("x.dot", []byte("graph g { x [label="+a.Example+"] }"), ""); err != nil {
			t.Errorf("%s example %s: %v", a.Name, a.Example, err)
		}
	}
	if msg := checkAttrName("label", ScopeEdge); msg != "" {
		t.Errorf("label: %s", msg)
	}
	if msg := checkAttrName("colour", ScopeNode); !strings.Contains(msg, `did you mean "color"?`) {
		t.Errorf("colour: %s", msg)
	}
}

func TestUnquote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`abc`, `abc`},
		{`"abc"`, `abc`},
		{`"a\"b"`, `a"b`},
		{`"a\\b"`, `a\\b`},
		{`"a\nb"`, `a\nb`},
		{"\"a\\\nb\"", "ab"},
		{"\"a\\\r\nb\"", "ab"},
		{`<b>x</b>`, `<b>x</b>`},
		{`"`, `"`},
	} {
		if got := unquote(c.in); got != c.want {
			t.Errorf("unquote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"dealy", "delay", 1}, {"", "abc", 3}, {"kind", "kind", 0}, {"rotues", "routes", 1}, {"mtu", "rate", 3}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

// TestLinesAndSubgraphs: statements find their lines even when comments,
// strings and HTML labels contain DOT punctuation, and edges whose ends are
// subgraphs expand to every pair in text order.
func TestLinesAndSubgraphs(t *testing.T) {
	src := `graph tricky {
  /* a -- b { } [ ] */ # x -- y
  a [label="p -- q { r } [s] -> t", exec="one
two"]
  b [label=<<i>a -- b</i>>]   // c -- d
  subgraph s1 { subgraph s2 { x -- y } y -- z }
  {a b} -- {c d} [rate="1mbit"]
  "e" -- subgraph { f; g }
  a -- x; b -- y
}
`
	lab, err := Parse("tricky.dot", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	wantSlice(t, "nodes", nodeNames(lab), []string{"a", "b", "x", "y", "z", "c", "d", "e", "f", "g"})
	wantSlice(t, "exec", lab.Node("a").Exec, []string{"one", "two"})
	var got []string
	for _, l := range lab.Links {
		got = append(got, fmt.Sprintf("%s-%s@%d", l.A.Node, l.B.Node, l.Line))
	}
	wantSlice(t, "links", got, []string{
		"x-y@6", "y-z@6",
		"a-c@7", "a-d@7", "b-c@7", "b-d@7",
		"e-f@8", "e-g@8",
		"a-x@9", "b-y@9",
	})
	wantEqual(t, "rate on every expanded edge", lab.Links[5].Rate, uint64(1e6))
	wantEqual(t, "label kept", lab.Node("a").Attrs["label"], "p -- q { r } [s] -> t")

	// Problems point at the right lines too.
	bad := strings.Replace(src, `"e" -- subgraph { f; g }`, `"e" -- subgraph { f [kind=hub]; g }`, 1)
	_, err = Parse("tricky.dot", []byte(bad), "")
	if err == nil || !strings.Contains(err.Error(), `tricky.dot:8: node "f": unknown kind "hub"`) {
		t.Errorf("err = %v", err)
	}
}

func TestLoadRefusesOversizedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.dot")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(p, "")
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("err = %v, want a validation error about the size", err)
	}
}

// TestNameLengthLimits checks every name at its limit (accepted) and one byte
// over it (refused with a message naming the thing and the limit).
func TestNameLengthLimits(t *testing.T) {
	name := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	lab := func(labName, host, bridge, port string) string {
		return fmt.Sprintf("graph %s { %s [kind=bridge]\n %s -- %s [tailport=%s]\n}\n", labName, bridge, host, bridge, port)
	}
	ok := lab(name('l', 63), name('h', 63), name('b', 63), name('p', 15))
	l, err := Parse("limits.dot", []byte(ok), "")
	if err != nil {
		t.Fatalf("names at their limits refused: %v", err)
	}
	wantEqual(t, "lab name", l.Name, name('l', 63))
	for _, n := range l.Nodes {
		if n.Name == name('h', 63) {
			wantEqual(t, "port", n.Ifaces[0].Name, name('p', 15))
		}
	}
	if _, err := Parse("limits.dot", []byte(ok), name('o', 63)); err != nil {
		t.Errorf("--name of 63 bytes refused: %v", err)
	}

	for _, c := range []struct{ what, src, want string }{
		{"lab", lab(name('l', 64), "h", "b", "p"), `limits.dot:1: graph: lab name "` + name('l', 64) + `" (the graph ID): use letters, digits, - and _, at most 63 bytes, or pass --name`},
		{"host", lab("l", name('h', 64), "b", "p"), `limits.dot:2: node "` + name('h', 64) + `": invalid name: use letters, digits, - and _, at most 63 bytes`},
		{"bridge", lab("l", "h", name('b', 64), "p"), `limits.dot:1: node "` + name('b', 64) + `": invalid name: use letters, digits, - and _, at most 63 bytes`},
		{"port", lab("l", "h", "b", name('p', 16)), `interface name "` + name('p', 16) + `": use letters, digits, - and _, at most 15 bytes`},
		{"route dev", "graph l { h [routes=\"10.9.0.0/16 dev " + name('d', 16) + "\"]\n h -- g }", `dev "` + name('d', 16) + `"`},
	} {
		_, err := Parse("limits.dot", []byte(c.src), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s one byte over its limit: got %v, want %q", c.what, err, c.want)
		}
	}
	if _, err := Parse("limits.dot", []byte(ok), name('o', 64)); err == nil || !strings.Contains(err.Error(), "(from --name): use letters, digits, - and _, at most 63 bytes") {
		t.Errorf("--name of 64 bytes: %v", err)
	}
}
