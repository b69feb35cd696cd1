// Package labs_test runs every classroom lab end to end: the lab as handed
// to students must fail its checks, its solution must pass them, and
// pulling a cable must change the routes the way the lab's README says.
package labs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/topo-lab/topo/node"
	"github.com/topo-lab/topo/topo"
)

// bin is the topo binary that the tests run checks with; built by
// TestMain when the tests can run at all (as root).
var bin string

func TestMain(m *testing.M) {
	// The test binary is the node init of the labs it brings up.
	node.MaybeRunInit()
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	bin = testutil.BuildTopo("../cmd/topo")
	code := m.Run()
	os.RemoveAll(filepath.Dir(bin))
	os.Exit(code)
}

// labCase is one lab of this folder.
type labCase struct {
	name string
	frr  bool
	// unsolved are checks that the lab as handed out must fail.
	unsolved []string
	// link is the cable failure.checks is about ("" if none).
	link string
}

var cases = []labCase{
	{
		name:     "static",
		unsolved: []string{"pingall", "route r1 10.2.0.0/24 via 10.0.12.2"},
		link:     "r1--r3",
	},
	{
		name:     "rip",
		frr:      true,
		unsolved: []string{"pingall", "route r3 10.4.0.0/24 via 10.0.34.4 proto rip"},
		link:     "r1--r2",
	},
	{
		name:     "ospf",
		frr:      true,
		unsolved: []string{"pingall", `run r3 "vtysh -c 'show ip ospf'" contains "This router is an ABR"`},
		link:     "r3--r4",
	},
	{
		name:     "bgp",
		frr:      true,
		unsolved: []string{"pingall h1 h4", "not route r3 192.168.4.0/24"},
	},
}

// TestLabFiles checks, without root, that every lab's files hold
// together: both DOT files load, every checks file is valid for both, the
// solution has the lab's topology, and students have a README.
func TestLabFiles(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lab, err := topo.Load(filepath.Join(c.name, c.name+".dot"), "")
			if err != nil {
				t.Fatal(err)
			}
			sol, err := topo.Load(filepath.Join(c.name, "solution", c.name+".dot"), "")
			if err != nil {
				t.Fatal(err)
			}
			if lab.Name != c.name || sol.Name != c.name {
				t.Errorf("lab names %q and %q, want %q", lab.Name, sol.Name, c.name)
			}
			if a, b := shape(lab), shape(sol); a != b {
				t.Errorf("the solution's topology differs from the lab's:\nlab:\n%s\nsolution:\n%s", a, b)
			}
			for _, l := range []*topo.Lab{lab, sol} {
				f, err := topo.ChecksFile(l)
				if err != nil {
					t.Fatal(err)
				}
				if want, _ := filepath.Abs(filepath.Join(c.name, c.name+".checks")); f != want {
					t.Errorf("%s: checks file %s, want %s", l.File, f, want)
				}
				if _, _, err := topo.LoadChecks(l, ""); err != nil {
					t.Error(err)
				}
				if c.link != "" {
					if _, _, err := topo.LoadChecks(l, filepath.Join(c.name, "failure.checks")); err != nil {
						t.Error(err)
					}
				}
			}
			for _, f := range []string{"README.md", "solution/README.md"} {
				b, err := os.ReadFile(filepath.Join(c.name, f))
				if err != nil {
					t.Error(err)
				} else if f == "README.md" && !bytes.Contains(b, []byte("## Questions")) {
					t.Errorf("%s/%s has no Questions section", c.name, f)
				}
			}
		})
	}
}

// shape describes a lab's topology (nodes, kinds, links, addresses) and
// nothing the solution may change.
func shape(l *topo.Lab) string {
	var b strings.Builder
	for _, n := range l.Nodes {
		b.WriteString(n.Name + " " + string(n.Kind))
		for _, i := range n.Ifaces {
			b.WriteString(" " + i.Name)
			for _, a := range i.Addrs {
				b.WriteString(" " + a.String())
			}
		}
		b.WriteString("\n")
	}
	for _, k := range l.Links {
		b.WriteString(k.String() + "\n")
	}
	return b.String()
}

func requireFRR(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/usr/lib/frr/frrinit.sh", "/usr/lib/frr/zebra", "/usr/bin/vtysh"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs FRRouting (%s is missing; Debian package frr, scripts/deps.sh installs it)", p)
		}
	}
}

// TestLabs brings every lab up twice at once, as handed out and solved,
// and checks both, then pulls the cable failure.checks is about. The labs
// run in parallel; what they leave behind is checked once all are down.
func TestLabs(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping (Debian package iputils-ping; make deps installs it)")
	}
	testutil.CheckLeftovers(t)
	// FRR writes to /var/tmp/frr and /run/frr: the labs give every router
	// private ones, so the host's must not change.
	hostDirs := []string{"/var/tmp", "/run"}
	before := map[string][]string{}
	for _, d := range hostDirs {
		before[d] = list(t, d)
	}
	t.Cleanup(func() {
		for _, d := range hostDirs {
			after := list(t, d)
			for _, e := range after {
				if strings.Contains(e, "frr") && !slices.Contains(before[d], e) {
					t.Errorf("%s/%s appeared in the host", d, e)
				}
			}
		}
	})
	root := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.frr {
				requireFRR(t)
			}
			runLab(t, root, c)
		})
	}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func runLab(t *testing.T, root string, c labCase) {
	opt := topo.Options{Root: root}
	student := up(t, opt, filepath.Join(c.name, c.name+".dot"), c.name+"-student")
	solved := up(t, opt, filepath.Join(c.name, "solution", c.name+".dot"), "")

	rep, code := check(t, root, solved, "--wait", "90s")
	if code != 0 || !rep.Pass {
		t.Fatalf("solution: check --wait 90s: exit status %d\n%s", code, failures(rep))
	}
	t.Logf("%s: all %d checks pass after %.1fs (%d rounds)", c.name, rep.Passed, rep.Seconds, rep.Rounds)

	// Each router's vtysh talks to that router's daemons: /run/frr is
	// the node's own.
	if c.frr {
		for _, r := range []string{"r1", "r2", "r3", "r4"} {
			out, errs, code := topoCmd(t, root, "exec", solved+"/"+r, "--", "vtysh", "-c", "show running-config")
			if code != 0 || !strings.Contains(out, "\nhostname "+r+"\n") {
				t.Errorf("%s: vtysh show running-config: exit status %d, no hostname %s:\n%s%s", r, code, r, out, errs)
			}
		}
	}

	// The lab as handed out had as long to converge as the solution.
	rep, code = check(t, root, student)
	if code != 1 || rep.Pass {
		t.Errorf("lab as handed out: check exit status %d, want 1 (some checks fail)", code)
	}
	for _, want := range c.unsolved {
		for _, r := range rep.Results {
			if r.Check == want && r.Pass {
				t.Errorf("lab as handed out: %q passes, want it to fail", want)
			}
		}
	}

	if c.link == "" {
		return
	}
	failure := filepath.Join(c.name, "failure.checks")
	if _, errs, code := topoCmd(t, root, "link", "down", solved+"/"+c.link); code != 0 {
		t.Fatalf("link down %s: exit status %d: %s", c.link, code, errs)
	}
	rep, code = check(t, root, solved, "--file", failure, "--wait", "60s")
	if code != 0 {
		t.Fatalf("link %s down: check --file failure.checks: exit status %d\n%s", c.link, code, failures(rep))
	}
	t.Logf("%s: link %s down: all %d checks of failure.checks pass after %.1fs", c.name, c.link, rep.Passed, rep.Seconds)
	if _, errs, code := topoCmd(t, root, "link", "up", solved+"/"+c.link); code != 0 {
		t.Fatalf("link up %s: exit status %d: %s", c.link, code, errs)
	}
	rep, code = check(t, root, solved, "--wait", "60s")
	if code != 0 {
		t.Fatalf("link %s up again: check: exit status %d\n%s", c.link, code, failures(rep))
	}
	t.Logf("%s: link %s up again: all checks pass after %.1fs", c.name, c.link, rep.Seconds)
}

// up brings a lab up under root as name ("" for its own) and takes it
// down at cleanup, checking that its state is gone.
func up(t *testing.T, opt topo.Options, file, name string) string {
	t.Helper()
	lab, err := topo.Load(file, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Up(context.Background(), lab, opt); err != nil {
		t.Fatalf("up %s: %v", file, err)
	}
	t.Cleanup(func() {
		if err := topo.Down(context.Background(), lab.Name, opt); err != nil {
			t.Errorf("down %s: %v", lab.Name, err)
		}
		if _, err := os.Stat(filepath.Join(opt.Root, lab.Name)); err == nil {
			t.Errorf("state folder of %s left after down", lab.Name)
		}
	})
	return lab.Name
}

// check runs topo check -o json on the lab and returns its report and exit
// status.
func check(t *testing.T, root, lab string, args ...string) (*topo.CheckReport, int) {
	t.Helper()
	out, errs, code := topoCmd(t, root, append([]string{"check", lab, "-o", "json"}, args...)...)
	rep := &topo.CheckReport{}
	if err := json.Unmarshal([]byte(out), rep); err != nil {
		t.Fatalf("check %s %v: exit status %d, output not JSON: %v\n%s%s", lab, args, code, err, out, errs)
	}
	return rep, code
}

func failures(rep *topo.CheckReport) string {
	var b strings.Builder
	for _, r := range rep.Results {
		if !r.Pass {
			b.WriteString("  line " + strconv.Itoa(r.Line) + ": " + r.Check + ": expected " + r.Expected + ", seen " + r.Seen + "\n")
		}
	}
	return b.String()
}

// topoCmd runs the topo binary with the state root and returns stdout,
// stderr and the exit status.
func topoCmd(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	return testutil.RunTopo(t, bin, root, "", args...)
}
