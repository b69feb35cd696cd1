package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
)

// initsUnder counts running node inits whose state lies under root.
func initsUnder(root string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "\x00__init\x00"+root+"/") {
			n++
		}
	}
	return n
}

func writeStar(t *testing.T, name string, n int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s { sw [kind=bridge]\n", name)
	for i := range n {
		fmt.Fprintf(&b, " h%d -- sw\n", i)
	}
	b.WriteString("}\n")
	p := filepath.Join(t.TempDir(), name+".dot")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKilledUpIsFinishedByDown kills topo up of a 200-node lab with
// SIGKILL at random moments; each time, topo down must leave nothing and a
// fresh up must succeed.
func TestKilledUpIsFinishedByDown(t *testing.T) {
	testutil.RequireRoot(t)
	if testing.Short() {
		t.Skip("long: 10 interrupted ups of a 200-node lab")
	}
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	dot := writeStar(t, "killed", 200)
	env := append(os.Environ(), "TOPO_STATE_DIR="+root)

	// How long a whole up takes here, to spread the kills over it.
	start := time.Now()
	if _, errs, code := topoCmd(t, root, "", "up", dot); code != 0 {
		t.Fatalf("up: %s", errs)
	}
	full := time.Since(start)
	if _, errs, code := topoCmd(t, root, "", "down", "killed"); code != 0 {
		t.Fatalf("down: %s", errs)
	}
	rng := rand.New(rand.NewSource(1))
	for i := range 10 {
		at := time.Duration(rng.Int63n(int64(full)))
		c := exec.Command(bin, "up", dot)
		c.Env = env
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		_ = c.Process.Signal(syscall.SIGKILL)
		_ = c.Wait()
		if _, err := os.Stat(filepath.Join(root, "killed")); err == nil {
			if out, errs, code := topoCmd(t, root, "", "down", "killed"); code != 0 {
				t.Fatalf("kill %d at %v: down: %d %s%s", i, at, code, out, errs)
			}
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Fatalf("kill %d at %v: state left: %v", i, at, ents)
		}
		if !testutil.Eventually(10*time.Second, func() bool { return initsUnder(root) == 0 }) {
			t.Fatalf("kill %d at %v: %d inits left 10s after down", i, at, initsUnder(root))
		}
	}
	if _, errs, code := topoCmd(t, root, "", "up", dot); code != 0 {
		t.Fatalf("fresh up after the kills: %s", errs)
	}
	if _, errs, code := topoCmd(t, root, "", "down", "killed"); code != 0 {
		t.Fatalf("down: %s", errs)
	}
}

func TestConcurrentUpsOfOneLab(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	dot := writeStar(t, "race", 20)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = topoCmd(t, root, "", "up", dot)
		}()
	}
	wg.Wait()
	t.Cleanup(func() { topoCmd(t, root, "", "down", "race") })
	wins, loses := 0, 0
	for i := range 2 {
		switch {
		case codes[i] == 0:
			wins++
		case codes[i] == 1 && strings.Contains(errs[i], "already"):
			loses++
		default:
			t.Errorf("up %d: exit %d: %s", i, codes[i], errs[i])
		}
	}
	if wins != 1 || loses != 1 {
		t.Fatalf("%d won, %d refused; want one each", wins, loses)
	}
	// 20 hosts, a bridge and the lab's init.
	if n := initsUnder(root); n != 22 {
		t.Errorf("%d inits running, want the winner's 22", n)
	}
}

func TestKilledNodeInit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := upQuickstart(t)
	b, _ := os.ReadFile(filepath.Join(root, "quickstart", "lab.json"))
	var st struct {
		Nodes map[string]struct{ PID int }
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Nodes["h2"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	out, _, _ := topoCmd(t, root, "", "status", "-o", "json")
	var s statusJSON
	json.Unmarshal([]byte(out), &s)
	for _, n := range s.Nodes {
		if n.Alive == (n.Name == "h2") {
			t.Errorf("status: node %s alive=%v", n.Name, n.Alive)
		}
	}
	if _, _, code := topoCmd(t, root, "", "exec", "h1", "--", "ping", "-c", "1", "-W", "1", "10.0.1.1"); code != 0 {
		t.Error("h1 cannot reach r1 after h2 died")
	}
	if _, errs, code := topoCmd(t, root, "", "exec", "h2", "--", "true"); code == 0 || !strings.Contains(errs, "not running") {
		t.Errorf("exec on a dead node: %d %q", code, errs)
	}
	if _, errs, code := topoCmd(t, root, "", "down", "--wait", "quickstart"); code != 0 {
		t.Fatal(errs)
	}
	if n := initsUnder(root); n != 0 {
		t.Errorf("%d inits left after down --wait", n)
	}
}

// TestConcurrentExecWhileFlapping runs 50 topo exec and 50 topo status at
// once against one lab while a link flaps: every one answers correctly.
func TestConcurrentExecWhileFlapping(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := upQuickstart(t)
	if _, errs, code := topoCmd(t, root, "", "link", "flap", "r1--h2", "--down", "100ms", "--up", "100ms", "--count", "10"); code != 0 {
		t.Fatalf("flap: %s", errs)
	}
	const calls = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fails []string
	fail := func(f string, a ...any) {
		mu.Lock()
		fails = append(fails, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 1 {
				out, errs, code := topoCmd(t, root, "", "status", "-o", "json")
				if code != 0 {
					fail("status %d: exit %d: %s", i, code, errs)
					return
				}
				if msg := checkQuickstartStatus(out); msg != "" {
					fail("status %d: %s", i, msg)
				}
				return
			}
			want := fmt.Sprintf("n%d", i)
			out, errs, code := topoCmd(t, root, "", "exec", "h1", "--", "echo", want)
			if code != 0 || out != want+"\n" {
				fail("exec %d: exit %d, output %q: %s", i, code, out, errs)
			}
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Errorf("%d of %d calls failed, first: %s", len(fails), calls, fails[0])
	}
}

// checkQuickstartStatus says what is wrong with topo status -o json of the
// quickstart lab, or "" when every node is alive with its interfaces and
// addresses (the flapping link may be up or down).
func checkQuickstartStatus(out string) string {
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return fmt.Sprintf("not JSON: %v", err)
	}
	if st.Phase != "up" {
		return fmt.Sprintf("phase %q", st.Phase)
	}
	want := map[string]int{"r1": 2, "h1": 1, "h2": 1}
	if len(st.Nodes) != len(want) {
		return fmt.Sprintf("%d nodes, want %d", len(st.Nodes), len(want))
	}
	for _, n := range st.Nodes {
		if !n.Alive {
			return n.Name + " not alive"
		}
		if len(n.Ifaces) != want[n.Name] {
			return fmt.Sprintf("%s has %d interfaces, want %d", n.Name, len(n.Ifaces), want[n.Name])
		}
		for _, i := range n.Ifaces {
			if len(i.Addrs) == 0 {
				return fmt.Sprintf("%s %s has no address", n.Name, i.Name)
			}
		}
	}
	return ""
}

// TestLongestNames runs a lab whose lab, node and interface names are all at
// their limits (63 bytes, 15 for interfaces) under a deep state root, so the
// node sockets' paths are far over the 108 bytes a socket address holds:
// up, exec by name, status, link down/up, capture and down all work.
func TestLongestNames(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping (iputils-ping)")
	}
	testutil.CheckLeftovers(t)
	root := filepath.Join(t.TempDir(), strings.Repeat("d", 60))
	long := func(c byte) string { return strings.Repeat(string(c), 63) }
	labName, h1, h2, r, sw := long('l'), long('a'), long('b'), long('r'), long('s')
	p1, p2 := strings.Repeat("p", 15), strings.Repeat("q", 15)
	src := fmt.Sprintf(`graph %s {
  %s [kind=bridge]
  %s [kind=router]
  %s -- %s [tailport=%s, headport=%s, tailip="10.1.0.1/24", headip="10.1.0.2/24"]
  %s -- %s
  %s -- %s
  %s -- %s
}
`, labName, sw, r, h1, r, p1, p2, r, sw, h1, sw, h2, sw)
	file := filepath.Join(t.TempDir(), "long.dot")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := topoCmd(t, root, "", "up", file); code != 0 {
		t.Fatalf("up: %s", errs)
	}
	t.Cleanup(func() {
		if _, errs, code := topoCmd(t, root, "", "down", labName); code != 0 {
			t.Errorf("down: %s", errs)
		}
	})
	if out, errs, code := topoCmd(t, root, "", "exec", h1, "--", "ping", "-c", "1", "-W", "2", h2); code != 0 {
		t.Fatalf("ping %s from %s: %d %s%s", h2, h1, code, out, errs)
	}
	out, errs, code := topoCmd(t, root, "", "exec", h1, "--", "hostname")
	if code != 0 || out != h1+"\n" {
		t.Errorf("hostname: %d %q %s", code, out, errs)
	}
	out, _, _ = topoCmd(t, root, "", "status", "-o", "json")
	for _, want := range []string{`"` + labName + `"`, `"` + h1 + `"`, `"` + sw + `"`, `"` + p1 + `"`, `"` + p2 + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("status -o json lacks %s", want)
		}
	}
	edge := h1 + ":" + p1 + "--" + r + ":" + p2
	if _, errs, code := topoCmd(t, root, "", "link", "down", edge); code != 0 {
		t.Fatalf("link down %s: %s", edge, errs)
	}
	if _, _, code := topoCmd(t, root, "", "exec", h1, "--", "ping", "-c", "1", "-W", "1", "10.1.0.2"); code == 0 {
		t.Error("ping across a link that is down succeeded")
	}
	if _, errs, code := topoCmd(t, root, "", "link", "up", edge); code != 0 {
		t.Fatalf("link up %s: %s", edge, errs)
	}
	if _, errs, code := topoCmd(t, root, "", "exec", h1, "--", "ping", "-c", "1", "-W", "2", "10.1.0.2"); code != 0 {
		t.Errorf("ping after link up: %s", errs)
	}
	// A capture on the long-named interface, while pings cross it.
	c := exec.Command(bin, "capture", h1+":"+p1, "icmp", "-c", "2", "--duration", "10s")
	c.Env = append(os.Environ(), "TOPO_STATE_DIR="+root)
	var capOut, capErr strings.Builder
	c.Stdout, c.Stderr = &capOut, &capErr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	topoCmd(t, root, "", "exec", h1, "--", "ping", "-c", "2", "-i", "0.2", "10.1.0.2")
	if err := c.Wait(); err != nil || strings.Count(capOut.String(), "ICMP") < 2 {
		t.Errorf("capture on %s:%s: %v\n%s%s", h1, p1, err, capOut.String(), capErr.String())
	}
}

// TestKilledLabInit kills a lab's init from outside: every node of the lab
// ends with it, status says so, and down finishes the lab.
func TestKilledLabInit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := upQuickstart(t)
	b, err := os.ReadFile(filepath.Join(root, "quickstart", "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Init struct{ PID int } }
	if err := json.Unmarshal(b, &st); err != nil || st.Init.PID == 0 {
		t.Fatalf("no lab init in the state: %v", err)
	}
	if err := syscall.Kill(st.Init.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(10*time.Second, func() bool { return initsUnder(root) == 0 }) {
		t.Fatalf("%d inits left after the lab init was killed", initsUnder(root))
	}
	out, _, _ := topoCmd(t, root, "", "status", "-o", "json")
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, n := range s.Nodes {
		if n.Alive {
			t.Errorf("status: node %s alive after its lab's init was killed", n.Name)
		}
	}
	if _, errs, code := topoCmd(t, root, "", "down", "quickstart"); code != 0 {
		t.Fatalf("down: %s", errs)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state left: %v", ents)
	}
}
