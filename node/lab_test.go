package node

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
)

// startLab starts a lab init and n nodes in it, and ends them all when the
// test ends.
func startLab(t *testing.T, n int) (*LabInit, []Proc) {
	t.Helper()
	dir := t.TempDir()
	lab, err := StartLab(context.Background(), dir)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	if err := lab.Ready(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lab.Close()
		_ = Kill(context.Background(), []Proc{lab.Proc})
	})
	var nodes []Proc
	for i := range n {
		p, err := lab.StartNode(context.Background(), dir, Config{Lab: "t", Name: fmt.Sprintf("n%d", i), NoIPv6: true})
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		nodes = append(nodes, p)
	}
	return lab, nodes
}

// procStatus reads a field of /proc/PID/status.
func procStatus(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// TestLabInit starts nodes in a lab: each node's init is PID 1 of its own
// PID namespace, made in the lab's, and a child of the lab init, which
// reaps it.
func TestLabInit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	lab, nodes := startLab(t, 3)
	if got := procStatus(lab.PID, "NSpid"); got != strconv.Itoa(lab.PID)+" 1" {
		t.Errorf("lab init NSpid %q, want PID 1 of its namespace", got)
	}
	for _, p := range nodes {
		ns := strings.Fields(procStatus(p.PID, "NSpid"))
		if len(ns) != 3 || ns[0] != strconv.Itoa(p.PID) || ns[2] != "1" {
			t.Errorf("node init %d NSpid %v, want host, lab and its own PID 1", p.PID, ns)
		}
		if pp := procStatus(p.PID, "PPid"); pp != strconv.Itoa(lab.PID) {
			t.Errorf("node init %d has parent %s, want the lab init %d", p.PID, pp, lab.PID)
		}
		if out, code := run(t, p, "hostname"); code != 0 || strings.TrimSpace(out) == "" {
			t.Errorf("exec in node %d: %d %q", p.PID, code, out)
		}
	}
	// A node whose init dies is reaped by the lab init: no zombie.
	if err := Kill(context.Background(), nodes[:1]); err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(5*time.Second, func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(nodes[0].PID))
		return os.IsNotExist(err)
	}) {
		t.Errorf("node init %d not reaped: %s", nodes[0].PID, procStatus(nodes[0].PID, "State"))
	}
}

// TestKillLab kills a lab init and waits: every process of the lab, a
// command started in a node included, has exited when Kill returns.
func TestKillLab(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	lab, nodes := startLab(t, 3)
	sleeper := startSleep(t, nodes[1])
	if err := Kill(context.Background(), []Proc{lab.Proc}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append([]int{lab.PID, sleeper}, pids(nodes)...) {
		if st := procStatus(pid, "State"); st != "" {
			t.Errorf("process %d still there (%s) once the lab init has exited", pid, st)
		}
	}
}

// TestEndLab asks a lab init to end its lab: EndLab returns at once, and
// the nodes end one after another, then the lab init.
func TestEndLab(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	lab, nodes := startLab(t, 5)
	sleeper := startSleep(t, nodes[2])
	if ended, err := EndLab(lab.Proc); err != nil || !ended {
		t.Fatalf("EndLab: %v %v", ended, err)
	}
	all := append([]int{lab.PID, sleeper}, pids(nodes)...)
	if !testutil.Eventually(10*time.Second, func() bool {
		// The lab init is this test's child: reap it once it exits.
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(lab.PID, &ws, syscall.WNOHANG, nil)
		for _, pid := range all {
			if procStatus(pid, "State") != "" {
				return false
			}
		}
		return true
	}) {
		for _, pid := range all {
			if st := procStatus(pid, "State"); st != "" {
				t.Errorf("process %d still there (%s) 10s after EndLab", pid, st)
			}
		}
	}
	// A second EndLab of a lab that is gone does nothing.
	if ended, err := EndLab(lab.Proc); err != nil || ended {
		t.Errorf("EndLab of an ended lab: %v %v", ended, err)
	}
}

func pids(ps []Proc) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

// startSleep leaves a sleep running in the node, as a child of its init,
// and returns its PID.
func startSleep(t *testing.T, p Proc) int {
	t.Helper()
	if _, code := run(t, p, "sh", "-c", "sleep 1000 >/dev/null 2>&1 &"); code != 0 {
		t.Fatal("start sleep in a node")
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.PID, p.PID))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatal("no process under the node's init")
	}
	c, _ := strconv.Atoi(f[0])
	return c
}
