package capture

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The privileged tests build their own throwaway network: two new, unnamed network namespaces
// held only by file descriptors of the test process, and a veth between them created with each
// end directly inside its namespace. Addresses come from TEST-NET-1 and the IPv6 documentation
// prefix and exist only inside those namespaces. Closing the descriptors ends the namespaces
// and their interfaces; every test checks that nothing of it is left.

const (
	addrA  = "192.0.2.1"
	addrB  = "192.0.2.2"
	addr6A = "2001:db8::1"
	addr6B = "2001:db8::2"
)

func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (Debian package %s): %v", name, map[string]string{
			"tshark": "tshark", "nsenter": "util-linux", "ping": "iputils-ping", "tcpdump": "tcpdump",
		}[name], err)
	}
	return p
}

// testNet is the fixture: namespace a with interface v0 and namespace b with v1, joined.
type testNet struct {
	a, b         *os.File
	aPath, bPath string // paths for Source.NetNS
}

// newTestNet builds the fixture and registers its teardown and the check that nothing is left.
func newTestNet(t testing.TB) *testNet {
	t.Helper()
	testutil.RequireRoot(t)
	requireTool(t, "nsenter")
	if tt, ok := t.(*testing.T); ok {
		testutil.CheckLeftovers(tt) // host interfaces, mounts, node inits
	}
	checkNothingLeft(t)

	n := &testNet{}
	var inoA, inoB uint64
	n.a, inoA = newNetNS(t)
	n.b, inoB = newNetNS(t)
	t.Cleanup(func() {
		n.a.Close()
		n.b.Close()
		for _, ino := range []uint64{inoA, inoB} {
			if who := nsHolders(ino); len(who) > 0 {
				t.Errorf("network namespace net:[%d] still held by %v", ino, who)
			}
		}
	})
	n.aPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), n.a.Fd())
	n.bPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), n.b.Fd())

	ha, err := netlink.NewHandleAt(netns.NsHandle(n.a.Fd()))
	if err != nil {
		t.Fatalf("netlink handle in a: %v", err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(netns.NsHandle(n.b.Fd()))
	if err != nil {
		t.Fatalf("netlink handle in b: %v", err)
	}
	defer hb.Close()

	la := netlink.NewLinkAttrs()
	la.Name = "v0"
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "v1", PeerNamespace: netlink.NsFd(int(n.b.Fd()))}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("veth v0--v1: %v", err)
	}
	setup := func(h *netlink.Handle, name, v4, v6 string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, a := range []struct {
			cidr  string
			flags int
		}{{v4 + "/24", 0}, {v6 + "/64", unix.IFA_F_NODAD}} {
			ipn, err := netlink.ParseIPNet(a.cidr)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn, Flags: a.flags}); err != nil {
				t.Fatalf("%s: address %s: %v", name, a.cidr, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("%s up: %v", name, err)
		}
	}
	setup(ha, "v0", addrA, addr6A)
	setup(hb, "v1", addrB, addr6B)
	return n
}

// newNetNS creates an unnamed network namespace on a locked thread, returning a descriptor that
// keeps it alive and its inode number.
func newNetNS(t testing.TB) (*os.File, uint64) {
	t.Helper()
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("unshare: %w", err)}
			return
		}
		f, ferr := os.Open("/proc/thread-self/ns/net")
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			if f != nil {
				f.Close()
			}
			ch <- result{nil, fmt.Errorf("setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{f, ferr}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("new network namespace: %v", r.err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(r.f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return r.f, st.Ino
}

// nsHolders lists the processes (pid/fd or pid/ns) and mounts that refer to net:[ino].
func nsHolders(ino uint64) []string {
	want := fmt.Sprintf("net:[%d]", ino)
	var who []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if l, _ := os.Readlink(p + "/ns/net"); l == want {
			who = append(who, p+"/ns/net")
		}
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); l == want {
				who = append(who, fd)
			}
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(mi, []byte(want)) {
		who = append(who, "a mount")
	}
	return who
}

// checkNothingLeft snapshots this process's sockets, namespace and eventfd descriptors (what
// a capture opens) and its children, and checks at the end of the test that they are as they
// were. (testutil.CheckLeftovers watches the host's interfaces and mounts.)
func checkNothingLeft(t testing.TB) {
	t.Helper()
	// Let the runtime create its poller (an eventfd among others) before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fds0 := fdKinds()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			fds := fdKinds()
			if fds == fds0 && len(children()) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("left behind: descriptors %q (before %q), children %v", fds, fds0, children())
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// fdKinds summarises this process's descriptors of the kinds capture opens.
func fdKinds() string {
	count := map[string]int{}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		l, err := os.Readlink(fd)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(l, "socket:"):
			count["socket"]++
		case strings.HasPrefix(l, "net:"):
			count["netns"]++
		case strings.Contains(l, "eventfd"):
			count["eventfd"]++
		}
	}
	return fmt.Sprintf("sockets=%d netns=%d eventfd=%d", count["socket"], count["netns"], count["eventfd"])
}

// children lists live child processes of the test.
func children() []string {
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, f := range tasks {
		b2, _ := os.ReadFile(f)
		out = append(out, strings.Fields(string(b2))...)
	}
	return out
}

// run runs a command inside the namespace ns with nsenter and returns its combined output.
func (n *testNet) run(t testing.TB, ns *os.File, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/proc/self/fd/3", "--"}, args...)...)
	cmd.ExtraFiles = []*os.File{ns}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ping sends count echo requests from a to b, 50 ms apart.
func (n *testNet) ping(t testing.TB, count int, v6 bool) {
	t.Helper()
	requireTool(t, "ping")
	dst := addrB
	if v6 {
		dst = addr6B
	}
	n.run(t, n.a, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.05", "-W", "2", dst)
}

// capture runs Run in the background; start it, make traffic after it returns, then stop.
type capture struct {
	cancel context.CancelFunc
	done   chan struct{}
	out    bytes.Buffer
	st     Stats
	err    error
}

func startCapture(t testing.TB, srcs []Source, opt Options) *capture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &capture{cancel: cancel, done: make(chan struct{})}
	ready := make(chan struct{})
	opt.Ready = func() { close(ready) }
	go func() {
		defer close(c.done)
		c.st, c.err = Run(ctx, srcs, opt, &c.out)
	}()
	select {
	case <-ready:
	case <-c.done:
		cancel()
		t.Fatalf("capture ended before it started: %v", c.err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("capture did not start within 10 s")
	}
	t.Cleanup(func() { c.cancel(); <-c.done })
	return c
}

// stop cancels the capture and waits for Run to return.
func (c *capture) stop(t testing.TB) {
	t.Helper()
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

// finish stops the capture and fails the test if Run failed.
func (c *capture) finish(t testing.TB) {
	t.Helper()
	c.stop(t)
	if c.err != nil {
		t.Fatalf("Run: %v", c.err)
	}
}

// wellFormed fails the test when tshark finds a malformed packet, or one
// it reports an error for, in a capture file.
func wellFormed(t testing.TB, data []byte) {
	t.Helper()
	if bad := tshark(t, data, "_ws.malformed || _ws.expert.severity >= error", "frame.number"); len(bad) > 0 {
		t.Errorf("malformed packets: %v", bad)
	}
}

// wait waits for Run to return by itself.
func (c *capture) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		t.Fatalf("Run did not return by itself within %v", d)
	}
}

// tshark reads a capture file given on stdin and returns one line per packet with the fields.
func tshark(t testing.TB, data []byte, filter string, fields ...string) []string {
	t.Helper()
	requireTool(t, "tshark")
	args := []string{"-r", "-", "-n", "-T", "fields", "-E", "separator=|"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// macOf returns the MAC address of an interface in a namespace.
func macOf(t testing.TB, ns *os.File, name string) net.HardwareAddr {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}
