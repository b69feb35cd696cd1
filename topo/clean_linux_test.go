package topo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/topo-lab/topo/node"
	"github.com/vishvananda/netlink"
)

const lookalikeEnv = "TOPO_TEST_LOOKALIKE"

func TestCleanWithoutState(t *testing.T) {
	testutil.RequireRoot(t)
	// Labs of earlier tests may still be ending (down returns before the
	// lab's init has ended their nodes); clean would count them too.
	testutil.Eventually(10*time.Second, func() bool {
		all, _ := node.FindAllInits()
		for _, in := range all {
			if _, err := os.Stat(in.Dir); err != nil {
				return false
			}
		}
		return true
	})
	// A process whose command line is an init's, but that is not PID 1 of
	// a namespace: clean must leave it alone.
	self, _ := os.Executable()
	root := t.TempDir()
	fake := &exec.Cmd{Path: self, Args: []string{"topo", "__init", filepath.Join(root, "ghost", "nodes"), "n1"},
		Env: append(os.Environ(), lookalikeEnv+"=1")}
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
	testutil.CheckLeftovers(t)
	// A bridge and a veth pair in the host with a lab's names.
	var planted []netlink.Link
	for _, l := range []netlink.Link{
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}},
		&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "h1"}, PeerName: "sw1"},
	} {
		if err := netlink.LinkAdd(l); err != nil {
			t.Logf("not planting %s: %v", l.Attrs().Name, err)
			continue
		}
		planted = append(planted, l)
		t.Cleanup(func() { netlink.LinkDel(l) })
	}

	lab, err := Load("../examples/lan.dot", "")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Root: root}
	if err := Up(context.Background(), lab, opt); err != nil {
		t.Fatal(err)
	}
	// Another lab under another root: not a leftover.
	other := Options{Root: t.TempDir()}
	if err := Up(context.Background(), lab, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Down(context.Background(), lab.Name, other) })

	// The state folder goes away (as if /run were wiped).
	if err := os.RemoveAll(labDir(root, lab.Name)); err != nil {
		t.Fatal(err)
	}
	rep, err := Clean(context.Background(), "", opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inits != len(lab.Nodes) || len(rep.Labs) != 1 || rep.Labs[0] != lab.Name {
		t.Errorf("clean report %+v, want %d inits of lab %s", rep, len(lab.Nodes), lab.Name)
	}
	if err := syscall.Kill(fake.Process.Pid, 0); err != nil {
		t.Errorf("clean killed a process that only looks like an init: %v", err)
	}
	for _, l := range planted {
		if _, err := netlink.LinkByName(l.Attrs().Name); err != nil {
			t.Errorf("clean removed the host's %s: %v", l.Attrs().Name, err)
		}
	}
	// Its nodes' inits and its lab init.
	if ps, _ := node.FindInits(nodeDir(other.Root, lab.Name)); len(ps) != len(lab.Nodes)+1 {
		t.Errorf("the other root's lab lost inits: %d left", len(ps))
	}
	// Clean under the other root, by name, with its state: gone too.
	if _, err := Clean(context.Background(), lab.Name, other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(labDir(other.Root, lab.Name)); err == nil {
		t.Error("clean --lab left the state folder")
	}
}
