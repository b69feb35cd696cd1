package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

// startNode starts a node in a fresh folder and kills it at cleanup.
func startNode(t *testing.T, cfg Config) (Proc, string) {
	t.Helper()
	dir := t.TempDir()
	p, err := Start(context.Background(), dir, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := Kill(context.Background(), []Proc{p}); err != nil {
			t.Errorf("kill: %v", err)
		}
		if p.Alive() {
			t.Errorf("init %d still alive after Kill", p.PID)
		}
	})
	return p, dir
}

// run runs argv in the node and returns its output and status.
func run(t *testing.T, sock string, argv ...string) (string, int) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	code, err := Run(sock, Cmd{Argv: argv, Env: os.Environ(), Stdin: null, Stdout: out, Stderr: out})
	if err != nil {
		t.Logf("run %v: %v", argv, err)
	}
	b, _ := os.ReadFile(out.Name())
	return string(b), code
}

func TestNodeNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	src := t.TempDir()
	hosts := filepath.Join(src, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n10.0.0.1 n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "conf"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, dir := startNode(t, Config{
		Lab: "t", Name: "n1", HostsFile: hosts,
		Mounts:  []Mount{{Src: src, Dst: "/run/conf", ReadOnly: true}},
		Sysctls: []Sysctl{{"net.ipv4.conf.all.forwarding", "1"}},
		Env:     []string{"NODEVAR=yes"},
		NoIPv6:  true,
	})
	sock := SockPath(dir, "n1")
	if !p.Alive() {
		t.Fatal("init not alive")
	}
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"hostname"}, "n1\n"},
		{[]string{"cat", "/etc/hostname"}, "n1\n"},
		{[]string{"cat", "/etc/hosts"}, "10.0.0.1 n1"},
		{[]string{"sh", "-c", "echo $NODEVAR"}, "yes\n"},
		{[]string{"cat", "/run/conf/conf"}, "hello\n"},
		{[]string{"cat", "/proc/sys/net/ipv4/conf/all/forwarding"}, "1\n"},
		{[]string{"cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"}, "1\n"},
		{[]string{"ls", "/sys/class/net"}, "lo\n"},
		{[]string{"ls", "/tmp"}, ""},
	}
	for _, c := range cases {
		out, code := run(t, sock, c.argv...)
		if code != 0 || !strings.Contains(out, c.want) || (c.want == "" && out != "") {
			t.Errorf("%v: status %d, output %q, want %q", c.argv, code, out, c.want)
		}
	}
	// PID isolation: the node sees its init as 1 and little else.
	out, _ := run(t, sock, "sh", "-c", "ls -d /proc/[0-9]*")
	if n := len(strings.Fields(out)); n > 4 {
		t.Errorf("node sees %d processes, want only its own: %s", n, out)
	}
	if out, _ := run(t, sock, "cat", "/proc/1/cmdline"); !strings.Contains(out, "__init") {
		t.Errorf("PID 1 in the node is %q, want the init", out)
	}
	// Read-only mount.
	if _, code := run(t, sock, "sh", "-c", "echo x > /run/conf/new"); code == 0 {
		t.Error("wrote into a read-only mount")
	}
	// Exit status and missing commands.
	if _, code := run(t, sock, "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit status %d, want 7", code)
	}
	if _, code := run(t, sock, "no-such-command-xyz"); code != 127 {
		t.Errorf("missing command: status %d, want 127", code)
	}
	// Orphans are reaped by the init.
	run(t, sock, "sh", "-c", "sleep 0.05 & exit 0")
	time.Sleep(200 * time.Millisecond)
	if out, _ := run(t, sock, "sh", "-c", "ps -eo stat= | grep -c Z || true"); strings.TrimSpace(out) != "0" {
		t.Errorf("zombies in the node: %s", out)
	}
}

func TestScriptLogs(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	_, dir := startNode(t, Config{Lab: "t", Name: "n2"})
	if err := RunScript(SockPath(dir, "n2"), []string{"echo first", "echo second; exit 3"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(LogPath(dir, "n2"))
		s := string(b)
		if strings.Contains(s, "first\n") && strings.Contains(s, "second\n") && strings.Contains(s, "status 3") {
			if strings.Index(s, "first") > strings.Index(s, "second") {
				t.Errorf("exec lines ran out of order:\n%s", s)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log after 5s:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	dir := t.TempDir()
	_, err := Start(context.Background(), dir, Config{Lab: "t", Name: "bad",
		Mounts: []Mount{{Src: "/nonexistent-topo-src", Dst: "/mnt"}}})
	if err == nil || !strings.Contains(err.Error(), "nonexistent-topo-src") {
		t.Fatalf("err = %v, want one naming the missing source", err)
	}
	if ps, _ := FindInits(dir); len(ps) != 0 {
		t.Fatalf("inits left: %v", ps)
	}
}
