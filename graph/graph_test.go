package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/topo-lab/topo/topo"
)

// labFiles are the files every test draws: the examples and the parser's
// good test files.
func labFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"../examples/*.dot", "../topo/testdata/good/*.dot"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			// examples/image.dot needs build/rootfs (make rootfs).
			if filepath.Base(f) == "image.dot" && !exists("../build/rootfs") {
				t.Logf("leaving out %s: ../build/rootfs is missing (make rootfs builds it)", f)
				continue
			}
			files = append(files, f)
		}
	}
	if len(files) < 10 {
		t.Fatalf("found only %d lab files", len(files))
	}
	return files
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func load(t *testing.T, file string) *topo.Lab {
	t.Helper()
	lab, err := topo.Load(file, "")
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return lab
}

// topology is what a lab is, without what only says where it came from or
// how it looks (File, Dir, lines, Attrs).
func topology(l *topo.Lab) string {
	type iface struct {
		Name, MAC string
		Addrs     []string
	}
	type node struct {
		Name    string
		Kind    topo.Kind
		Exec    []string
		Routes  []topo.Route
		Mounts  []topo.Mount
		Image   string
		UserNS  bool
		Env     []string
		Sysctls []topo.Sysctl
		Ifaces  []iface
	}
	type link struct {
		A, B topo.Endpoint
		MTU  int
		topo.Impair
		Down bool
	}
	out := struct {
		Name            string
		Subnet, Subnet6 string
		Nodes           []node
		Links           []link
	}{Name: l.Name, Subnet: l.Subnet.String(), Subnet6: l.Subnet6.String()}
	for _, n := range l.Nodes {
		nn := node{Name: n.Name, Kind: n.Kind, Exec: n.Exec, Routes: n.Routes, Mounts: n.Mounts, Image: n.Image,
			UserNS: n.UserNS, Env: n.Env, Sysctls: n.Sysctls}
		for _, i := range n.Ifaces {
			ii := iface{Name: i.Name, MAC: i.MAC}
			for _, a := range i.Addrs {
				ii.Addrs = append(ii.Addrs, a.String())
			}
			nn.Ifaces = append(nn.Ifaces, ii)
		}
		out.Nodes = append(out.Nodes, nn)
	}
	for _, k := range l.Links {
		out.Links = append(out.Links, link{A: k.A, B: k.B, MTU: k.MTU, Impair: k.Impair, Down: k.Down})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// reparse reads annotated DOT back as topo up - would: from stdin.
func reparse(t *testing.T, dot []byte) *topo.Lab {
	t.Helper()
	lab, err := topo.Parse("-", dot, "")
	if err != nil {
		t.Fatalf("topo cannot read the DOT it drew: %v\n%s", err, dot)
	}
	return lab
}

func TestRoundTrip(t *testing.T) {
	for _, f := range labFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			lab := load(t, f)
			for _, layout := range []string{"", "neato"} {
				dot, err := Annotate(lab, nil, Options{Layout: layout})
				if err != nil {
					t.Fatal(err)
				}
				back := reparse(t, dot)
				if got, want := topology(back), topology(lab); got != want {
					t.Fatalf("layout %q: the DOT reads back as another lab:\n%s\nwant\n%s\nDOT:\n%s", layout, got, want, dot)
				}
				// Drawing the drawing gives the same file: topo's look
				// in the attributes is recognised as topo's.
				again, err := Annotate(back, nil, Options{Layout: layout})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, dot) {
					t.Errorf("layout %q: drawing the drawn file changes it:\n%s\nfirst:\n%s", layout, again, dot)
				}
			}
		})
	}
}

// TestRoundTripText covers values that need care when quoted: exec lines
// with quotes and backslashes, HTML labels, names that must be quoted.
func TestRoundTripText(t *testing.T) {
	src := `graph "odd-1" {
		"1a" [exec="echo \"a b\"", exec="printf 'x\\n' > /tmp/f", exec="echo back\\\\", label=<<b>one</b> a>]
		"b-2" [routes="default via 10.0.0.1", env="A=1, B=x=y", sysctl="net.ipv4.tcp_ecn=1", tooltip="say \"hi\""]
		"1a":"p0" -- "b-2" [delay="1.5ms", jitter="100us", loss="0.25%", rate="1500kbit", mtu=9000, color="red:blue"]
		"1a" -- "b-2"
	}`
	lab, err := topo.Parse("odd.dot", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	dot, err := Annotate(lab, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	back := reparse(t, dot)
	if got, want := topology(back), topology(lab); got != want {
		t.Fatalf("the DOT reads back as another lab:\n%s\nwant\n%s\nDOT:\n%s", got, want, dot)
	}
	// The user's own drawing attributes survive too.
	for k, v := range map[string]string{"label": "<<b>one</b> a>"} {
		if got := back.Node("1a").Attrs[k]; got != v {
			t.Errorf("node 1a %s = %q, want %q", k, got, v)
		}
	}
	if got := back.Node("b-2").Attrs["tooltip"]; got != `say "hi"` {
		t.Errorf("tooltip = %q", got)
	}
	if got := back.Links[0].Attrs["color"]; got != "red:blue" {
		t.Errorf("edge color = %q", got)
	}
}

func TestPortsOnlyWhereNeeded(t *testing.T) {
	lab := load(t, "../topo/testdata/good/ports.dot")
	dot, err := Annotate(lab, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ports := regexp.MustCompile(`(tail|head)port=("[^"]*"|\w+)`).FindAllString(string(dot), -1)
	// h3 -- r1:uplink and h4:e-4 -- r1 need theirs; every other end is
	// what topo would name it anyway.
	want := []string{"headport=uplink", `tailport="e-4"`}
	if !reflect.DeepEqual(ports, want) {
		t.Errorf("ports written: %q, want %q", ports, want)
	}
	// A lab whose names all follow the rule writes none.
	dot, _ = Annotate(load(t, "../examples/chain.dot"), nil, Options{})
	if bytes.Contains(dot, []byte("port=")) {
		t.Errorf("chain.dot needs no ports:\n%s", dot)
	}
}

// TestGraphvizReadsDOT checks that Graphviz's own dot accepts every file
// topo graph writes.
func TestGraphvizReadsDOT(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("needs Graphviz's dot (Debian package graphviz) to check the DOT output against")
	}
	for _, f := range labFiles(t) {
		lab := load(t, f)
		dot, err := Annotate(lab, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command("dot", "-Tsvg")
		c.Stdin = bytes.NewReader(dot)
		var out, stderr bytes.Buffer
		c.Stdout, c.Stderr = &out, &stderr
		if err := c.Run(); err != nil {
			t.Errorf("%s: dot -Tsvg: %v\n%s\n%s", f, err, stderr.String(), dot)
			continue
		}
		if !bytes.Contains(out.Bytes(), []byte("<svg")) {
			t.Errorf("%s: dot -Tsvg wrote no SVG", f)
		}
		// Graphviz warns about ports it does not know on its shapes, and
		// reads topo's image (a root file system) as its own (a picture
		// in the node): both are expected; anything else is not.
		for _, w := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if w != "" && !strings.Contains(w, "port") && !strings.Contains(w, "image") && !strings.Contains(w, "shape library") {
				t.Errorf("%s: dot -Tsvg warns: %s", f, w)
			}
		}
	}
}

// parseSVG parses an SVG as XML and returns all its character data (texts
// and titles) and its root's width and height in points.
func parseSVG(t *testing.T, svg []byte) (string, float64, float64) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var b strings.Builder
	var w, h float64
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.CharData:
			b.Write(tok)
			b.WriteByte('\n')
		case xml.StartElement:
			if tok.Name.Local == "svg" {
				for _, a := range tok.Attr {
					v, _ := strconv.ParseFloat(strings.TrimSuffix(a.Value, "pt"), 64)
					switch a.Name.Local {
					case "width":
						w = v
					case "height":
						h = v
					}
				}
			}
		}
	}
	return b.String(), w, h
}

func TestSVG(t *testing.T) {
	ctx := context.Background()
	for _, f := range labFiles(t) {
		lab := load(t, f)
		for _, layout := range Layouts {
			t.Run(filepath.Base(f)+"/"+layout, func(t *testing.T) {
				svg, err := Draw(ctx, lab, nil, Options{Layout: layout}, SVG)
				if err != nil {
					t.Fatal(err)
				}
				text, w, h := parseSVG(t, svg)
				if w < 20 || h < 20 {
					t.Errorf("size %vx%v", w, h)
				}
				for _, n := range lab.Nodes {
					if !strings.Contains(text, n.Name) {
						t.Errorf("node %s is not in the SVG", n.Name)
					}
					for _, i := range n.Ifaces {
						for _, a := range i.Addrs {
							if !strings.Contains(text, a.String()) {
								t.Errorf("address %s of %s:%s is not in the SVG", a, n.Name, i.Name)
							}
						}
					}
				}
			})
		}
	}
}

func TestPNG(t *testing.T) {
	ctx := context.Background()
	for _, f := range []string{"../examples/quickstart.dot", "../examples/lan.dot", "../topo/testdata/good/graphviz.dot"} {
		lab := load(t, f)
		svg, err := Draw(ctx, lab, nil, Options{}, SVG)
		if err != nil {
			t.Fatal(err)
		}
		_, w, h := parseSVG(t, svg)
		b, err := Draw(ctx, lab, nil, Options{}, PNG)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: the PNG does not decode: %v", f, err)
		}
		// Two pixels per point, rounded up.
		sz := img.Bounds().Size()
		if sz.X < int(w*pngScale) || sz.X > int(w*pngScale)+2 || sz.Y < int(h*pngScale) || sz.Y > int(h*pngScale)+2 {
			t.Errorf("%s: PNG is %v, the SVG %vx%v pt", f, sz, w, h)
		}
		// Not blank: the nodes' fill colours are there.
		seen := map[uint32]bool{}
		for y := 0; y < sz.Y; y += 3 {
			for x := 0; x < sz.X; x += 3 {
				r, g, b, _ := img.At(x, y).RGBA()
				seen[r>>8<<16|g>>8<<8|b>>8] = true
			}
		}
		if len(seen) < 10 {
			t.Errorf("%s: the PNG has only %d colours", f, len(seen))
		}
	}
}

func TestLargePNGIsBounded(t *testing.T) {
	lab := genLab(t, 500)
	b, err := Draw(context.Background(), lab, nil, Options{}, PNG)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width > maxSide || cfg.Height > maxSide || float64(cfg.Width)*float64(cfg.Height) > maxPixels*1.01 {
		t.Errorf("PNG of 500 nodes is %dx%d", cfg.Width, cfg.Height)
	}
}

// liveState is quickstart running with h1's eth0 set down (so r1's eth0
// has no carrier), h2's init gone, and counters on r1.
func liveState() *State {
	up := func(c uint64) IfaceState {
		return IfaceState{Up: true, Carrier: true, Counters: Counters{RxPackets: c, TxPackets: c + 1, RxBytes: c * 100, TxBytes: 1500000}}
	}
	return &State{Nodes: map[string]NodeState{
		"h1": {Alive: true, Ifaces: map[string]IfaceState{"eth0": {Up: false}}},
		"r1": {Alive: true, Ifaces: map[string]IfaceState{"eth0": {Up: true}, "eth1": up(12)}},
		"h2": {Alive: false},
	}}
}

// edgeLine returns the DOT line of the edge from a to b.
func edgeLine(t *testing.T, dot []byte, a, b string) string {
	t.Helper()
	for _, l := range strings.Split(string(dot), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), fmt.Sprintf("%q -- %q", a, b)) {
			return l
		}
	}
	t.Fatalf("no edge %s -- %s in\n%s", a, b, dot)
	return ""
}

func nodeLine(t *testing.T, dot []byte, n string) string {
	t.Helper()
	for _, l := range strings.Split(string(dot), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), fmt.Sprintf("%q [", n)) {
			return l
		}
	}
	t.Fatalf("no node %s in\n%s", n, dot)
	return ""
}

func TestLiveState(t *testing.T) {
	lab := load(t, "../examples/quickstart.dot")
	st := liveState()
	dot, err := Annotate(lab, st, Options{Stats: true})
	if err != nil {
		t.Fatal(err)
	}
	down := edgeLine(t, dot, "h1", "r1")
	for _, want := range []string{`color="` + downColor + `"`, "style=dashed", `taillabel="eth0 (down)\n10.0.1.2/24\nrx 0 pkt`, "label=down"} {
		if !strings.Contains(down, want) {
			t.Errorf("h1--r1 is down: want %s in\n%s", want, down)
		}
	}
	// r1--h2: h2's init is gone, so the link is down too; r1's end shows
	// its counters.
	gone := edgeLine(t, dot, "r1", "h2")
	for _, want := range []string{`color="` + downColor + `"`, `rx 12 pkt 1.2 kB\ntx 13 pkt 1.5 MB`} {
		if !strings.Contains(gone, want) {
			t.Errorf("r1--h2: want %s in\n%s", want, gone)
		}
	}
	if h2 := nodeLine(t, dot, "h2"); !strings.Contains(h2, `fillcolor="`+deadFill+`"`) {
		t.Errorf("h2's init is gone: want it grey:\n%s", h2)
	}
	if h1 := nodeLine(t, dot, "h1"); strings.Contains(h1, deadFill) {
		t.Errorf("h1 lives: %s", h1)
	}
	// The live picture still reads back as the same lab, and once the lab
	// is up again nothing of that moment sticks.
	back := reparse(t, dot)
	if got, want := topology(back), topology(lab); got != want {
		t.Fatalf("the live DOT reads back as another lab:\n%s\nwant\n%s", got, want)
	}
	static, _ := Annotate(lab, nil, Options{})
	again, _ := Annotate(back, nil, Options{})
	if !bytes.Equal(static, again) {
		t.Errorf("live annotations stuck:\n%s\nwant\n%s", again, static)
	}

	// The SVG draws the down link red and dashed.
	svg, err := Draw(context.Background(), lab, st, Options{Stats: true}, SVG)
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, svg)
	m := regexp.MustCompile(`<title>h1:eth0[^<]*</title><path [^>]*stroke="` + downColor + `"[^>]*stroke-dasharray`).Find(svg)
	if m == nil {
		t.Errorf("the SVG does not draw h1--r1 red and dashed:\n%s", svg)
	}
	if !bytes.Contains(svg, []byte("rx 12 pkt 1.2 kB")) {
		t.Errorf("the SVG has no counters")
	}
	// A link that is up, state known, is drawn as usual.
	st.Nodes["h2"] = NodeState{Alive: true, Ifaces: map[string]IfaceState{"eth0": {Up: true, Carrier: true}}}
	dot, _ = Annotate(lab, st, Options{})
	if l := edgeLine(t, dot, "r1", "h2"); strings.Contains(l, downColor) {
		t.Errorf("r1--h2 is up: %s", l)
	}
}

// TestConfiguredDownComesUp: a link created down (state=down) that someone
// brought up is drawn up.
func TestConfiguredDownComesUp(t *testing.T) {
	lab := load(t, "../examples/impaired.dot")
	if l := edgeLine(t, mustAnnotate(t, lab, nil), "r1", "h2"); !strings.Contains(l, "style=dashed") {
		t.Errorf("state=down without live state is drawn down: %s", l)
	}
	st := &State{Nodes: map[string]NodeState{
		"r1": {Alive: true, Ifaces: map[string]IfaceState{"eth1": {Up: true, Carrier: true}}},
		"h2": {Alive: true, Ifaces: map[string]IfaceState{"eth0": {Up: true, Carrier: true}}},
	}}
	l := edgeLine(t, mustAnnotate(t, lab, st), "r1", "h2")
	if strings.Contains(l, "dashed") || strings.Contains(l, "label=down") || !strings.Contains(l, "state=down") {
		t.Errorf("brought up, it is drawn up (and still created down): %s", l)
	}
}

func mustAnnotate(t *testing.T, lab *topo.Lab, st *State) []byte {
	t.Helper()
	dot, err := Annotate(lab, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dot
}

func TestUserAttributesWin(t *testing.T) {
	src := `graph u {
		node [shape=circle]
		r1 [kind=router, color=blue, label="core", pos="1,2!"]
		h1 -- r1 [label="uplink", color=green, taillabel="t"]
	}`
	lab, err := topo.Parse("u.dot", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	dot := mustAnnotate(t, lab, nil)
	r1 := nodeLine(t, dot, "r1")
	for _, want := range []string{"shape=circle", "color=blue", "label=core", `pos="1,2!"`} {
		if !strings.Contains(r1, want) {
			t.Errorf("r1: want %s in %s", want, r1)
		}
	}
	if strings.Contains(r1, "ellipse") {
		t.Errorf("topo's shape overrides the user's: %s", r1)
	}
	e := edgeLine(t, dot, "h1", "r1")
	for _, want := range []string{"label=uplink", "color=green", "taillabel=t"} {
		if !strings.Contains(e, want) {
			t.Errorf("edge: want %s in %s", want, e)
		}
	}
	// Down is state, not look: it wins over the user's colour.
	st := &State{Nodes: map[string]NodeState{"h1": {Alive: true, Ifaces: map[string]IfaceState{"eth0": {}}}}}
	if e := edgeLine(t, mustAnnotate(t, lab, st), "h1", "r1"); !strings.Contains(e, downColor) {
		t.Errorf("a down link keeps the user's colour: %s", e)
	}
	// neato honours the pinned position: r1 at (72, -144) before fitting,
	// so h1 ends up wherever, r1 where the user said relative to it.
	if _, err := Draw(context.Background(), lab, nil, Options{Layout: "neato"}, SVG); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsAndFormats(t *testing.T) {
	lab := load(t, "../examples/quickstart.dot")
	if _, err := Draw(context.Background(), lab, nil, Options{Layout: "spring"}, SVG); err == nil {
		t.Error("an unknown layout is accepted")
	}
	if _, err := Annotate(lab, nil, Options{Stats: true}); err == nil {
		t.Error("stats without live state are accepted")
	}
	for name, want := range map[string]Format{"a.svg": SVG, "b.PNG": PNG, "c.dot": DOT, "d.gv": DOT, "-": DOT} {
		if f, err := FormatOf(name); err != nil || f != want {
			t.Errorf("FormatOf(%q) = %q, %v", name, f, err)
		}
	}
	if _, err := FormatOf("x.jpg"); err == nil {
		t.Error("FormatOf(x.jpg) is accepted")
	}
	// The layout given is written into the file, and drawing that file
	// again uses it.
	dot := mustAnnotateOpt(t, lab, Options{Layout: "circo"})
	if !bytes.Contains(dot, []byte("\tlayout=circo\n")) {
		t.Errorf("no layout=circo in\n%s", dot)
	}
	if e := engineFor(reparse(t, dot), Options{}); e != "circo" {
		t.Errorf("the drawn file is laid out with %s", e)
	}
}

func mustAnnotateOpt(t *testing.T, lab *topo.Lab, opt Options) []byte {
	t.Helper()
	dot, err := Annotate(lab, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	return dot
}

func TestDrawCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Draw(ctx, genLab(t, 100), nil, Options{Layout: "neato"}, SVG); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled layout returns %v", err)
	}
}

func TestLabelText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`a\nb`, []string{"a", "b"}},
		{`\N on \G\l`, []string{"n1 on g"}},
		{`<<b>r1</b><br/>core &amp; edge>`, []string{"r1", "core & edge"}},
		{`back\\slash`, []string{`back\slash`}},
		{"", []string{""}},
	} {
		if got := labelText(c.in, map[byte]string{'N': "n1", 'G': "g"}); !reflect.DeepEqual(got, c.want) {
			t.Errorf("labelText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIsotonic(t *testing.T) {
	// Targets that collide are pushed apart around their mean.
	got := isotonic([]float64{10, 10, 10}, []float64{1, 1, 1}, []float64{0, 5, 5})
	want := []float64{5, 10, 15}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("isotonic = %v, want %v", got, want)
	}
	// Targets far enough apart stay.
	got = isotonic([]float64{0, 100}, []float64{1, 1}, []float64{0, 5})
	if !reflect.DeepEqual(got, []float64{0, 100}) {
		t.Errorf("isotonic = %v", got)
	}
}

// genLab makes a lab of about n nodes: a chain of routers, each with a
// bridge and eight hosts on it, addresses planned by topo.
func genLab(tb testing.TB, n int) *topo.Lab {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "graph gen%d {\n\tsubnet=\"10.0.0.0/8\"\n", n)
	routers := max(1, n/10)
	for r := range routers {
		fmt.Fprintf(&b, "\tr%d [kind=router]\n\tsw%d [kind=bridge]\n\tr%d -- sw%d\n", r, r, r, r)
		if r > 0 {
			fmt.Fprintf(&b, "\tr%d -- r%d [delay=\"1ms\", rate=\"100mbit\"]\n", r-1, r)
		}
		for h := range 8 {
			fmt.Fprintf(&b, "\th%d_%d -- sw%d\n", r, h, r)
		}
	}
	b.WriteString("}\n")
	lab, err := topo.Parse("gen.dot", []byte(b.String()), "")
	if err != nil {
		tb.Fatal(err)
	}
	return lab
}
