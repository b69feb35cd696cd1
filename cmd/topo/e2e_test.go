package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"github.com/topo-lab/topo/node"
)

// bin is the topo binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	node.MaybeRunInit()
	bin = testutil.BuildTopo(".")
	code := m.Run()
	os.RemoveAll(filepath.Dir(bin))
	os.Exit(code)
}

// topoCmd runs the binary with a private state root and returns stdout,
// stderr and the exit status.
func topoCmd(t *testing.T, root string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return testutil.RunTopo(t, bin, root, stdin, args...)
}

// upQuickstart brings the quickstart lab up under a private state root,
// which it returns, and takes everything there down at cleanup.
func upQuickstart(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if _, errs, code := topoCmd(t, root, "", "up", "../../examples/quickstart.dot"); code != 0 {
		t.Fatal(errs)
	}
	t.Cleanup(func() { topoCmd(t, root, "", "down", "--all") })
	return root
}

// statusJSON is the part of topo status -o json the tests read.
type statusJSON struct {
	Name  string
	Phase string
	Nodes []struct {
		Name   string
		Alive  bool
		Ifaces []struct {
			Name  string
			Addrs []string
		}
	}
}

func TestCLILifecycle(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping (iputils-ping)")
	}
	testutil.CheckLeftovers(t)
	root := t.TempDir()
	if out, errs, code := topoCmd(t, root, "", "up", "../../examples/quickstart.dot"); code != 0 {
		t.Fatalf("up: %d\n%s%s", code, out, errs)
	}
	t.Cleanup(func() { topoCmd(t, root, "", "down", "--all") })

	if out, errs, code := topoCmd(t, root, "", "exec", "h1", "--", "ping", "-c", "1", "-W", "2", "h2"); code != 0 {
		t.Errorf("exec ping: %d\n%s%s", code, out, errs)
	}
	// The command's own exit status, stdin passed through, byte-exact.
	if _, _, code := topoCmd(t, root, "", "exec", "h1", "--", "sh", "-c", "exit 42"); code != 42 {
		t.Errorf("exec exit status %d, want 42", code)
	}
	if out, _, _ := topoCmd(t, root, "line1\nline2\n", "exec", "h2", "--", "cat"); out != "line1\nline2\n" {
		t.Errorf("exec stdin: got %q", out)
	}
	if out, _, _ := topoCmd(t, root, "", "exec", "-e", "FOO=bar", "h2", "--", "sh", "-c", "echo $FOO"); out != "bar\n" {
		t.Errorf("exec -e: got %q", out)
	}
	if _, errs, code := topoCmd(t, root, "", "exec", "nosuch", "--", "true"); code != 1 || !strings.Contains(errs, `no node "nosuch"`) {
		t.Errorf("exec on a missing node: %d %q", code, errs)
	}
	// A second up of the same lab is refused.
	if _, errs, code := topoCmd(t, root, "", "up", "../../examples/quickstart.dot"); code != 1 || !strings.Contains(errs, "already") {
		t.Errorf("second up: %d %q", code, errs)
	}

	out, errs, code := topoCmd(t, root, "", "status", "-o", "json")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errs)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	if st.Name != "quickstart" || len(st.Nodes) != 3 {
		t.Errorf("status: %+v", st)
	}
	for _, n := range st.Nodes {
		if !n.Alive || len(n.Ifaces) == 0 {
			t.Errorf("status node %+v", n)
		}
	}
	if out, _, code := topoCmd(t, root, "", "ls", "-o", "json"); code != 0 || !strings.Contains(out, `"quickstart"`) {
		t.Errorf("ls: %d %s", code, out)
	}
	if _, _, code := topoCmd(t, root, "", "status", "-o", "yaml"); code != 2 {
		t.Errorf("status -o yaml: exit %d, want 2", code)
	}
	if out, errs, code := topoCmd(t, root, "", "down", "quickstart"); code != 0 {
		t.Fatalf("down: %d %s%s", code, out, errs)
	}
	if out, _, _ := topoCmd(t, root, "", "ls"); strings.Contains(out, "quickstart") {
		t.Errorf("ls after down: %s", out)
	}
	if _, errs, code := topoCmd(t, root, "", "down", "quickstart"); code != 1 || !strings.Contains(errs, "no such lab") {
		t.Errorf("down twice: %d %q", code, errs)
	}
}

func TestCLIInvalidFileCreatesNothing(t *testing.T) {
	root := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.dot")
	os.WriteFile(bad, []byte("graph bad { a [kind=rooter]; a -- a; }"), 0o644)
	_, errs, code := topoCmd(t, root, "", "up", bad)
	if code != 2 {
		t.Errorf("exit %d, want 2; stderr %q", code, errs)
	}
	if !strings.Contains(errs, "bad.dot") || !strings.Contains(errs, "rooter") {
		t.Errorf("message does not name the file and the problem: %q", errs)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state created for an invalid file: %v", ents)
	}
	if _, _, code := topoCmd(t, root, "", "up"); code != 2 {
		t.Errorf("up without a file: exit %d, want 2", code)
	}
	if _, _, code := topoCmd(t, root, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// TestExecFastPath runs the same execs through the C fast path (plain
// "exec NODE -- CMD") and through Go (TOPO_EXEC_SLOW), which must agree.
func TestExecFastPath(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	root := upQuickstart(t)
	for _, slow := range []bool{false, true} {
		name := map[bool]string{false: "fast", true: "go"}[slow]
		t.Run(name, func(t *testing.T) {
			if slow {
				t.Setenv("TOPO_EXEC_SLOW", "1")
			}
			if _, _, code := topoCmd(t, root, "", "exec", "h1", "--", "sh", "-c", "exit 42"); code != 42 {
				t.Errorf("status %d, want 42", code)
			}
			// GODEBUG=inittrace=1 makes the Go runtime print its package
			// inits: the fast path never starts it.
			t.Setenv("GODEBUG", "inittrace=1")
			_, errs, code := topoCmd(t, root, "", "exec", "h1", "--", "true")
			if ran := strings.Contains(errs, "init runtime"); code != 0 || ran != slow {
				t.Errorf("exec true: status %d, Go runtime started: %v, want %v", code, ran, slow)
			}
			os.Unsetenv("GODEBUG")
			if out, _, _ := topoCmd(t, root, "a\x00b\n", "exec", "h1", "--", "cat"); out != "a\x00b\n" {
				t.Errorf("stdin: %q", out)
			}
			if out, _, _ := topoCmd(t, root, "", "exec", "h1", "--", "sh", "-c", "echo $TOPO_LAB/$TOPO_NODE $(pwd)"); out != "quickstart/h1 /\n" && !strings.HasPrefix(out, "quickstart/h1 ") {
				t.Errorf("env: %q", out)
			}
			if _, errs, code := topoCmd(t, root, "", "exec", "h1", "--", "no-such-cmd-x"); code != 127 || !strings.Contains(errs, "no-such-cmd-x") {
				t.Errorf("missing command: %d %q", code, errs)
			}
			if _, errs, code := topoCmd(t, root, "", "exec", "nosuch", "--", "true"); code != 1 || !strings.Contains(errs, `no node "nosuch"`) {
				t.Errorf("missing node: %d %q", code, errs)
			}
			// A signal to topo reaches the command.
			c := exec.Command(bin, "exec", "h1", "--", "sleep", "30")
			c.Env = append(os.Environ(), "TOPO_STATE_DIR="+root)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			c.Process.Signal(syscall.SIGTERM)
			err := c.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+15 {
				t.Errorf("exec of sleep after SIGTERM: %v, want status 143", err)
			}
		})
	}
}
