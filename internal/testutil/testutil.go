// Package testutil holds the helpers of topo's privileged tests: skipping
// with a reason when root is missing, and checking that a test left nothing
// behind in the host.
package testutil

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates namespaces, interfaces and mounts")
	}
}

// Snapshot is what the host shows of the kinds of things topo could leak.
type Snapshot struct {
	Ifaces []string
	Mounts []string
	Inits  []string
}

// Take records the host's interfaces, mounts and the topo node inits whose
// state lies under mine ("" for all).
func Take(t testing.TB, mine string) Snapshot {
	t.Helper()
	var s Snapshot
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		s.Ifaces = append(s.Ifaces, i.Name)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 {
			s.Mounts = append(s.Mounts, f[4])
		}
	}
	s.Inits = inits(mine)
	slices.Sort(s.Ifaces)
	slices.Sort(s.Mounts)
	return s
}

// inits lists processes whose command line marks them as topo node inits
// of a state folder under mine.
func inits(mine string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte("\x00__init\x00"+mine)) {
			continue
		}
		out = append(out, e.Name()+" "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	slices.Sort(out)
	return out
}

// CheckLeftovers registers a cleanup, run after every other cleanup of the
// test, that fails the test when the host shows interfaces, mounts or node
// inits it did not show when CheckLeftovers was called. Call it first.
// Inits count when their state lies in the test's own temporary folders
// (t.TempDir), so that packages tested side by side do not blame each
// other; interfaces and mounts count wherever they are, since a lab makes
// none in the host.
func CheckLeftovers(t *testing.T) {
	t.Helper()
	mine := filepath.Dir(t.TempDir())
	before := Take(t, mine)
	t.Cleanup(func() {
		// topo down returns while the lab's init ends the nodes, and the
		// kernel tears namespaces down after that: give them time.
		var after Snapshot
		if Eventually(10*time.Second, func() bool {
			after = Take(t, mine)
			return len(diff(after.Ifaces, before.Ifaces))+len(diff(after.Mounts, before.Mounts))+len(diff(after.Inits, before.Inits)) == 0
		}) {
			return
		}
		if d := diff(after.Ifaces, before.Ifaces); len(d) > 0 {
			t.Errorf("left interfaces in the host: %v", d)
		}
		if d := diff(after.Mounts, before.Mounts); len(d) > 0 {
			t.Errorf("left mounts in the host: %v", d)
		}
		if d := diff(after.Inits, before.Inits); len(d) > 0 {
			t.Errorf("left node inits running: %v", d)
		}
	})
}

// Eventually calls cond until it returns true, for at most timeout, and
// says whether it did: for what topo leaves the kernel to finish, such as
// the nodes a topo down has handed to the lab's init to end.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// BuildTopo builds the topo binary from the package at pkg (a path such
// as "../cmd/topo") into a fresh temporary folder, for end-to-end tests
// that run it; remove the folder (filepath.Dir of the result) when done.
// It panics on failure: it is meant for TestMain.
func BuildTopo(pkg string) string {
	dir, err := os.MkdirTemp("", "topo-bin")
	if err != nil {
		panic(err)
	}
	bin := filepath.Join(dir, "topo")
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build topo: " + err.Error())
	}
	return bin
}

// RunTopo runs the topo binary bin with the state root root and stdin as
// its input, and returns its stdout, stderr and exit status. A run that
// takes over three minutes is killed.
func RunTopo(t testing.TB, bin, root, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), "TOPO_STATE_DIR="+root)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}
