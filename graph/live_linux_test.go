package graph

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

// TestMain lets the test binary serve as the node init, as topo does.
func TestMain(m *testing.M) {
	node.MaybeRunInit()
	os.Exit(m.Run())
}

// TestSnapshotLinkDown brings quickstart up, takes h1's eth0 down, and
// checks that the picture of the running lab draws that link down and the
// other one up.
func TestSnapshotLinkDown(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opt := topo.Options{Root: t.TempDir()}
	lab := load(t, "../examples/quickstart.dot")
	if err := topo.Up(ctx, lab, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Down(context.Background(), lab.Name, opt); err != nil {
			t.Errorf("down: %v", err)
		}
	})

	st, err := topo.ReadState(opt.Root, lab.Name)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := link.OpenNS(fmt.Sprintf("/proc/%d/ns/net", st.Nodes["h1"].PID))
	if err != nil {
		t.Fatal(err)
	}
	err = ns.SetUp("eth0", false)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}

	running, state, err := Snapshot(ctx, lab.Name, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topology(running), topology(lab); got != want {
		t.Fatalf("the running lab's topology differs from its file:\n%s\nwant\n%s", got, want)
	}
	dot, err := Annotate(running, state, Options{Stats: true})
	if err != nil {
		t.Fatal(err)
	}
	down := edgeLine(t, dot, "h1", "r1")
	for _, want := range []string{downColor, "style=dashed", "eth0 (down)"} {
		if !strings.Contains(down, want) {
			t.Errorf("h1--r1 is down: want %s in\n%s", want, down)
		}
	}
	up := edgeLine(t, dot, "r1", "h2")
	if strings.Contains(up, downColor) || !strings.Contains(up, `\nrx `) {
		t.Errorf("r1--h2 is up, with counters: %s", up)
	}
	svg, err := Draw(ctx, running, state, Options{Stats: true}, SVG)
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, svg)
	if !bytes.Contains(svg, []byte(`stroke="`+downColor+`" stroke-dasharray`)) {
		t.Errorf("the SVG draws no link red and dashed")
	}
}
