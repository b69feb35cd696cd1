package topo

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/topo-lab/topo/link"
	"github.com/topo-lab/topo/node"
)

// upLab loads an example, brings it up under a private state root and takes
// it down at cleanup, checking that nothing is left.
func upLab(t *testing.T, file, name string, root string) *Lab {
	t.Helper()
	lab, err := Load(filepath.Join("..", "examples", file), name)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	opt := Options{Root: root}
	if err := Up(context.Background(), lab, opt); err != nil {
		t.Fatalf("up %s: %v", file, err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), lab.Name, opt); err != nil {
			t.Errorf("down %s: %v", lab.Name, err)
		}
		if _, err := os.Stat(labDir(root, lab.Name)); err == nil {
			t.Errorf("state folder of %s left after down", lab.Name)
		}
	})
	return lab
}

// sh runs a command in a node of the lab under root; it returns the output
// and exit status.
func sh(t *testing.T, root, lab, nodeName string, argv ...string) (string, int) {
	t.Helper()
	tg, err := FindNode(nodeName, lab, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	code, err := Exec(tg, node.Cmd{Argv: argv, Env: os.Environ(), Dir: "/", Stdin: null, Stdout: out, Stderr: out})
	if err != nil {
		t.Logf("exec %v: %v", argv, err)
	}
	b, _ := os.ReadFile(out.Name())
	return string(b), code
}

func requirePing(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping (Debian package iputils-ping; make deps installs it)")
	}
}

func TestQuickstartUpDown(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab := upLab(t, "quickstart.dot", "", root)

	for _, target := range []string{"h2", "10.0.2.2"} {
		out, code := sh(t, root, lab.Name, "h1", "ping", "-c", "2", "-i", "0.2", "-W", "2", target)
		if code != 0 {
			t.Errorf("h1: ping %s: status %d\n%s", target, code, out)
		}
	}
	if out, _ := sh(t, root, lab.Name, "r1", "hostname"); out != "r1\n" {
		t.Errorf("r1 hostname %q", out)
	}
	if out, _ := sh(t, root, lab.Name, "r1", "cat", "/proc/sys/net/ipv4/ip_forward"); out != "1\n" {
		t.Errorf("r1 ip_forward %q, want 1", out)
	}
	// Each node's /tmp is its own.
	sh(t, root, lab.Name, "h1", "sh", "-c", "echo secret > /tmp/h1file")
	if _, code := sh(t, root, lab.Name, "h2", "test", "-e", "/tmp/h1file"); code == 0 {
		t.Error("h2 sees h1's /tmp")
	}
	if _, err := os.Stat("/tmp/h1file"); err == nil {
		t.Error("the host sees h1's /tmp")
	}

	// Status agrees with what netlink says in each namespace.
	s, err := LabStatus(context.Background(), lab.Name, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if s.Phase != PhaseUp || len(s.Nodes) != len(lab.Nodes) {
		t.Fatalf("status: phase %s, %d nodes", s.Phase, len(s.Nodes))
	}
	for _, ns := range s.Nodes {
		n := lab.Node(ns.Name)
		if !ns.Alive {
			t.Errorf("node %s not alive", ns.Name)
			continue
		}
		h, err := link.OpenNS(fmt.Sprintf("/proc/%d/ns/net", ns.PID))
		if err != nil {
			t.Fatal(err)
		}
		live, err := h.Interfaces()
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != len(ns.Ifaces) || len(live) != len(n.Ifaces) {
			t.Errorf("node %s: %d interfaces in status, %d in kernel, %d in file", n.Name, len(ns.Ifaces), len(live), len(n.Ifaces))
			continue
		}
		for i, ifc := range ns.Ifaces {
			want := n.Iface(ifc.Name)
			if want == nil {
				t.Errorf("node %s: unexpected interface %s", n.Name, ifc.Name)
				continue
			}
			if ifc.MAC != want.MAC || !ifc.Up || !ifc.Carrier || !slices.Equal(ifc.Addrs, live[i].Addrs) {
				t.Errorf("node %s %s: status %+v, kernel %+v, file %+v", n.Name, ifc.Name, ifc, live[i], want)
			}
			for _, a := range want.Addrs {
				if !slices.Contains(ifc.Addrs, a.String()) {
					t.Errorf("node %s %s: address %s missing (have %v)", n.Name, ifc.Name, a, ifc.Addrs)
				}
			}
		}
	}
}

func TestTwoLabsSameNames(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	a := upLab(t, "quickstart.dot", "qa", root)
	b := upLab(t, "quickstart.dot", "qb", root)
	for _, l := range []*Lab{a, b} {
		if out, code := sh(t, root, l.Name, "h1", "ping", "-c", "1", "-W", "2", "h2"); code != 0 {
			t.Errorf("lab %s: ping: %d %s", l.Name, code, out)
		}
	}
	if _, err := FindNode("h1", "", Options{Root: root}); err == nil || !strings.Contains(err.Error(), "several labs") {
		t.Errorf("ambiguous node: err = %v", err)
	}
}

func TestDualStack(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab := upLab(t, "dualstack.dot", "", root)
	// Find a pair of hosts at the two ends and an IPv6 address of the far
	// one.
	var hosts []*Node
	for _, n := range lab.Nodes {
		if n.Kind == KindHost {
			hosts = append(hosts, n)
		}
	}
	if len(hosts) < 2 {
		t.Fatal("dualstack example needs two hosts")
	}
	from, to := hosts[0], hosts[len(hosts)-1]
	for _, a := range to.Ifaces[0].Addrs {
		args := []string{"ping", "-c", "2", "-i", "0.2", "-W", "2", a.Addr().String()}
		if out, code := sh(t, root, lab.Name, from.Name, args...); code != 0 {
			t.Errorf("%s -> %s (%s): status %d\n%s", from.Name, to.Name, a, code, out)
		}
	}
}

func TestRollbackOnFailure(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Load("../examples/chain.dot", "")
	if err != nil {
		t.Fatal(err)
	}
	err = Up(context.Background(), lab, Options{Root: root, failAfter: 2})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if _, err := os.Stat(labDir(root, lab.Name)); err == nil {
		t.Error("state folder left after a failed up")
	}
}

func TestCancelledUp(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Load("../examples/chain.dot", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opt := Options{Root: root, Progress: func(p Progress) {
		if p.Stage == "links" {
			cancel()
		}
	}}
	if err := Up(ctx, lab, opt); err == nil {
		t.Fatal("up succeeded after cancel")
	}
	if _, err := os.Stat(labDir(root, lab.Name)); err == nil {
		t.Error("state folder left after a cancelled up")
	}
}

func TestDownFinishesHalfMadeLab(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Load("../examples/chain.dot", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Up(context.Background(), lab, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	// As if topo up had died before recording anything: no state file.
	if err := os.Remove(filepath.Join(labDir(root, lab.Name), stateFile)); err != nil {
		t.Fatal(err)
	}
	if err := Up(context.Background(), lab, Options{Root: root}); err == nil {
		t.Fatal("second up of a lab that exists succeeded")
	}
	if err := Down(context.Background(), lab.Name, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(labDir(root, lab.Name)); err == nil {
		t.Error("state folder left")
	}
	var ps []node.Proc
	if !testutil.Eventually(10*time.Second, func() bool {
		ps, _ = node.FindInits(nodeDir(root, lab.Name))
		return len(ps) == 0
	}) {
		t.Errorf("inits left 10s after down: %v", ps)
	}
}

const sharedNSHelperEnv = "TOPO_TEST_SHARED_NS_ROOT"

// TestMountsDoNotLeakToSharedRoot runs a lab inside a throwaway mount
// namespace whose / is shared (as on systemd machines) and checks that no
// node mount propagates to it.
func TestMountsDoNotLeakToSharedRoot(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "shared", "/proc/self/exe", "-test.run=^$")
	cmd.Path = "/usr/bin/unshare"
	self, _ := os.Executable()
	cmd.Args = []string{"unshare", "--mount", "--propagation", "shared", self, "-test.run=^$"}
	cmd.Env = append(os.Environ(), sharedNSHelperEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("shared-ns ok")) {
		t.Fatalf("helper said:\n%s", out)
	}
}

// runSharedNSHelper is the body of TestMountsDoNotLeakToSharedRoot, run in
// its own mount namespace.
func runSharedNSHelper() int {
	root := os.Getenv(sharedNSHelperEnv)
	mounts := func() []string {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 {
				out = append(out, f[4])
			}
		}
		return out
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if !bytes.Contains(b, []byte("shared:")) {
		fmt.Println("/ is not shared in the helper namespace")
		return 1
	}
	before := mounts()
	lab, err := Load("../examples/quickstart.dot", "")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := Up(context.Background(), lab, Options{Root: root}); err != nil {
		fmt.Println(err)
		return 1
	}
	time.Sleep(100 * time.Millisecond)
	after := mounts()
	_ = Down(context.Background(), lab.Name, Options{Root: root})
	var leaked []string
	for _, m := range after {
		if !slices.Contains(before, m) {
			leaked = append(leaked, m)
		}
	}
	if len(leaked) > 0 {
		fmt.Println("node mounts leaked into the shared root:", leaked)
		return 1
	}
	fmt.Println("shared-ns ok")
	return 0
}

var _ = netip.Prefix{}

// TestCampus brings up a lab that uses most of the schema and checks that
// every host reaches every other host, and the node attributes took.
func TestCampus(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Load("testdata/labs/campus/campus.dot", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Up(context.Background(), lab, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), lab.Name, Options{Root: root}); err != nil {
			t.Error(err)
		}
	})
	var hosts []*Node
	for _, n := range lab.Nodes {
		if n.Kind == KindHost {
			hosts = append(hosts, n)
		}
	}
	for _, from := range hosts {
		for _, to := range hosts {
			if from == to {
				continue
			}
			for _, a := range to.Ifaces[0].Addrs {
				if !nodeHasFamily(from, a.Addr().Is6()) {
					continue
				}
				if out, code := sh(t, root, lab.Name, from.Name, "ping", "-c", "1", "-W", "2", a.Addr().String()); code != 0 {
					t.Errorf("%s -> %s (%s): %d\n%s", from.Name, to.Name, a, code, out)
				}
			}
		}
	}
	// Names resolve through each node's /etc/hosts.
	if out, code := sh(t, root, lab.Name, "b2", "ping", "-c", "1", "-W", "2", "a1"); code != 0 {
		t.Errorf("b2 -> a1 by name: %s", out)
	}
	if out, _ := sh(t, root, lab.Name, "a2", "cat", "/run/conf/app.conf"); out != "campus-config\n" {
		t.Errorf("mount: %q", out)
	}
	if _, code := sh(t, root, lab.Name, "a2", "touch", "/run/conf/x"); code == 0 {
		t.Error("read-only mount is writable")
	}
	if out, _ := sh(t, root, lab.Name, "a3", "cat", "/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts"); out != "0\n" {
		t.Errorf("sysctl: %q", out)
	}
	if out, _ := sh(t, root, lab.Name, "r1", "cat", "/sys/class/net/wan/mtu"); out != "1400\n" {
		t.Errorf("mtu: %q", out)
	}
	// Exec lines ran in order, with the node's env, output in the log.
	tg, err := FindNode("a1", lab.Name, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := sh(t, root, lab.Name, "a1", "cat", "/tmp/started")
		b, _ := os.ReadFile(tg.Log())
		if out == "started-client\n" && strings.Contains(string(b), "second\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec lines: file %q, log:\n%s", out, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeHasFamily(n *Node, v6 bool) bool {
	for _, i := range n.Ifaces {
		if hasFamily(i, !v6) {
			return true
		}
	}
	return false
}

// TestIsolation checks what a node cannot see of the host and of other
// nodes, and that the lab's state is root's alone.
func TestIsolation(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab := upLab(t, "quickstart.dot", "", root)
	// Processes: the node's init and the command itself.
	out, _ := sh(t, root, lab.Name, "h1", "sh", "-c", "ls -d /proc/[0-9]*")
	if n := len(strings.Fields(out)); n > 3 {
		t.Errorf("h1 sees %d processes: %s", n, out)
	}
	// Interfaces: its own only.
	if out, _ := sh(t, root, lab.Name, "h1", "ls", "/sys/class/net"); out != "eth0\nlo\n" {
		t.Errorf("h1's interfaces: %q", out)
	}
	// The host's /run (and so every lab's state) is not visible.
	if _, code := sh(t, root, lab.Name, "h1", "test", "-e", root); code == 0 && strings.HasPrefix(root, "/tmp") {
		t.Errorf("h1 sees the host's /tmp (%s)", root)
	}
	if out, _ := sh(t, root, lab.Name, "h1", "ls", "-A", "/run"); out != "" {
		t.Errorf("h1's /run is not empty: %q", out)
	}
	// State folders are root's, mode 0700.
	for _, d := range []string{root, labDir(root, lab.Name), nodeDir(root, lab.Name)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if d != root && st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, st.Mode().Perm())
		}
	}
}

// TestAttributesNeverReachAShell gives attributes values full of shell
// syntax: none is evaluated. exec lines are the only thing run by a shell,
// inside the node, and the values they read from env arrive literally; so do
// the arguments of Exec.
func TestAttributesNeverReachAShell(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root, shared := t.TempDir(), t.TempDir()
	evil := func(tag string) string {
		return fmt.Sprintf("$(touch /mnt/%s1);touch /mnt/%s2 `touch /mnt/%s3` |touch /mnt/%s4 &&touch /mnt/%s5", tag, tag, tag, tag, tag)
	}
	q := func(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }
	src := fmt.Sprintf(`graph inject {
  h1 [label="%s", env="A=%s", mounts="%s:/mnt", exec="printf '%%s' \"$A\" > /mnt/seen"]
  h1 -- h2 [label="%s"]
}`, q(evil("label")), q(evil("env")), shared, q(evil("edge")))
	lab, err := Parse(filepath.Join(shared, "inject.dot"), []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Root: root}
	if err := Up(context.Background(), lab, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), lab.Name, opt); err != nil {
			t.Error(err)
		}
	})
	if out, code := sh(t, root, lab.Name, "h1", "printf", "%s", evil("arg")); code != 0 || out != evil("arg") {
		t.Errorf("exec argument: %d %q", code, out)
	}
	// The exec line runs once the links are up; wait for what it wrote.
	var seen []byte
	for range 100 {
		if seen, err = os.ReadFile(filepath.Join(shared, "seen")); err == nil && len(seen) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(seen) != evil("env") {
		t.Errorf("the exec line read A=%q, want it literally: %q", seen, evil("env"))
	}
	ents, _ := os.ReadDir(shared)
	for _, e := range ents {
		if e.Name() != "seen" && e.Name() != "inject.dot" {
			t.Errorf("a value was run by a shell: %s was created", e.Name())
		}
	}
}

// TestExecWhileLinking: once its nodes have started, a lab's nodes answer
// topo exec while up is still making the links.
func TestExecWhileLinking(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Load(filepath.Join("..", "examples", "quickstart.dot"), "")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	var code = -1
	opt := Options{Root: root, Progress: func(p Progress) {
		if p.Stage == "links" && p.Done == 0 {
			out, code = sh(t, root, lab.Name, "h1", "hostname")
		}
	}}
	if err := Up(context.Background(), lab, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), lab.Name, Options{Root: root}); err != nil {
			t.Error(err)
		}
	})
	if code != 0 || out != "h1\n" {
		t.Errorf("exec while the links were made: %d %q", code, out)
	}
}

// labProcs lists every process of a lab: its lab init and every process
// in its PID namespace (NSpid has a number at the lab's level).
func labProcs(t *testing.T, labInit int) []int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid == labInit || parentOf(pid, labInit) {
			out = append(out, pid)
		}
	}
	return out
}

// parentOf says whether labInit is an ancestor of pid.
func parentOf(pid, labInit int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			return false
		}
		pid, _ = strconv.Atoi(f[1])
		if pid == labInit {
			return true
		}
	}
	return false
}

// TestDownEndsEveryProcess brings a lab down both ways, with a command
// left running in a node. Down returns once the lab's init has the lab to
// end, its state gone, and every process of the lab ends soon after; with
// Wait every one has exited when Down returns.
func TestDownEndsEveryProcess(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	for _, wait := range []bool{false, true} {
		root := t.TempDir()
		lab, err := Load("../examples/chain.dot", "")
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Root: root, Wait: wait}
		if err := Up(context.Background(), lab, opt); err != nil {
			t.Fatal(err)
		}
		st, err := ReadState(root, lab.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, code := sh(t, root, lab.Name, "r2", "sh", "-c", "sleep 1000 >/dev/null 2>&1 &"); code != 0 {
			t.Fatal("start a command in r2")
		}
		before := labProcs(t, st.Init.PID)
		// The lab init, three node inits, the sleep.
		if len(before) != 1+len(lab.Nodes)+1 {
			t.Fatalf("wait=%v: lab processes before down: %v", wait, before)
		}
		if err := Down(context.Background(), lab.Name, opt); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(labDir(root, lab.Name)); err == nil {
			t.Errorf("wait=%v: state folder left", wait)
		}
		// The lab init is this test's child: reap it as it exits.
		gone := func() bool {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(st.Init.PID, &ws, syscall.WNOHANG, nil)
			for _, pid := range before {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(b, []byte(") Z")) {
					return false
				}
			}
			return true
		}
		if wait && !gone() {
			t.Errorf("wait=true: lab processes left when Down returned: %v", labProcs(t, st.Init.PID))
		}
		if !testutil.Eventually(10*time.Second, gone) {
			t.Errorf("wait=%v: lab processes left 10s after Down: %v", wait, labProcs(t, st.Init.PID))
		}
	}
}

// TestUserNSNodeInLab runs a node with a user namespace in a lab: its
// PID namespace, made by the node's process inside its user namespace, is
// in the lab's, and the node works (its root is the mapped uid).
func TestUserNSNodeInLab(t *testing.T) {
	testutil.RequireRoot(t)
	requirePing(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Parse("uns.dot", []byte("graph uns { a [userns=true]; b; a -- b }"), "")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Root: root}
	if err := Up(context.Background(), lab, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), lab.Name, Options{Root: root, Wait: true}); err != nil {
			t.Error(err)
		}
	})
	st, err := ReadState(root, lab.Name)
	if err != nil {
		t.Fatal(err)
	}
	a := st.Nodes["a"]
	if !parentOf(a.PID, st.Init.PID) {
		t.Errorf("node a's init %d is not the lab init's child", a.PID)
	}
	if out, code := sh(t, root, lab.Name, "a", "cat", "/proc/self/uid_map"); code != 0 || !strings.HasPrefix(strings.TrimSpace(out), fmt.Sprintf("0 %d", node.UserNSBase)) {
		t.Errorf("uid_map in a: %d %q", code, out)
	}
	if out, code := sh(t, root, lab.Name, "a", "ping", "-c", "1", "-W", "2", "b"); code != 0 {
		t.Errorf("a: ping b: %d\n%s", code, out)
	}
}

// TestImageLabDownWaits brings down a lab with an image node: its overlay's
// layers are in the state folder, so down returns only once every process
// of the lab has exited, and only then removes the folder.
func TestImageLabDownWaits(t *testing.T) {
	testutil.RequireRoot(t)
	img, err := filepath.Abs("../build/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(img, "bin", "busybox")); err != nil {
		t.Skipf("needs the BusyBox root filesystem (make rootfs): %v", err)
	}
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	lab, err := Parse("img.dot", []byte(fmt.Sprintf("graph img { c [image=%q]; h; c -- h }", img)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Up(context.Background(), lab, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(labDir(root, lab.Name), labInitFile)); err == nil {
		t.Error("a lab with an image node has a labinit file: down would not wait")
	}
	st, err := ReadState(root, lab.Name)
	if err != nil {
		t.Fatal(err)
	}
	before := labProcs(t, st.Init.PID)
	if err := Down(context.Background(), lab.Name, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range before {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(b, []byte(") Z")) {
			t.Errorf("process %d of the lab still running when down returned", pid)
		}
	}
}
