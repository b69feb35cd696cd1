package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	if os.Getenv(dialFromNodeEnv) != "" {
		os.Exit(dialFromNode())
	}
	code := m.Run()
	// The BusyBox root filesystem the image tests built, if any.
	if rootfsDir != "" {
		os.RemoveAll(filepath.Dir(rootfsDir))
	}
	os.Exit(code)
}

const dialFromNodeEnv = "TOPO_TEST_DIAL_FROM_NODE"

// dialFromNode is run inside a node: it connects to the node's own init
// and asks it to run a command, printing what the init answered.
func dialFromNode() int {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + sockName})
	}
	if err != nil {
		fmt.Println("connect:", err)
		return 1
	}
	f := os.NewFile(uintptr(fd), "init")
	c, err := net.FileConn(f)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	b, _ := runRequest(Cmd{Argv: []string{"touch", "/tmp/ran"}, Dir: "/"}, 0, 0)
	null, _ := os.Open(os.DevNull)
	rights := unix.UnixRights(int(null.Fd()), int(null.Fd()), int(null.Fd()))
	// The init may have answered and closed before the request goes.
	_, _, serr := c.(*net.UnixConn).WriteMsgUnix(b, rights, nil)
	r, err := readReply(c.(*net.UnixConn))
	fmt.Println("send:", serr)
	fmt.Printf("reply: %q %v\n", r.Error, err)
	return 0
}

// TestNodeCannotCommandItsInit: a process of the node reaches its init's
// socket (it is in the node's network namespace) but is refused, so a
// userns node's unprivileged users cannot run commands as its root; and a
// node that wrote nothing has no log file.
func TestNodeCannotCommandItsInit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is in the host's /tmp: the node sees it mounted.
	sock, dir := startNode(t, Config{Lab: "t", Name: "self",
		Mounts: []Mount{{Src: filepath.Dir(self), Dst: "/run/self", ReadOnly: true}}})
	b, _, err := runCmd(t, sock, Cmd{Argv: []string{"/run/self/" + filepath.Base(self)}, Env: []string{dialFromNodeEnv + "=1"}, Dir: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b, "commands come from the host") {
		t.Errorf("the node's own process was not refused: %s", b)
	}
	if _, code := run(t, sock, "test", "-e", "/tmp/ran"); code == 0 {
		t.Error("the init ran a command its own node asked for")
	}
	if _, err := os.Stat(LogPath(dir, "self")); !os.IsNotExist(err) {
		t.Errorf("a node that wrote nothing has a log: %v", err)
	}
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
func run(t *testing.T, sock Proc, argv ...string) (string, int) {
	t.Helper()
	out, code, err := runCmd(t, sock, Cmd{Argv: argv, Env: os.Environ()})
	if err != nil {
		t.Logf("run %v: %v", argv, err)
	}
	return out, code
}

// runCmd runs c in the node with stdin from /dev/null and its output
// (stdout and stderr) returned.
func runCmd(t *testing.T, sock Proc, c Cmd) (string, int, error) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	c.Stdin, c.Stdout, c.Stderr = null, out, out
	code, err := Run(sock, c)
	b, _ := os.ReadFile(out.Name())
	return string(b), code, err
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
	p, _ := startNode(t, Config{
		Lab: "t", Name: "n1", HostsFile: hosts,
		Mounts:  []Mount{{Src: src, Dst: "/run/conf", ReadOnly: true}},
		Sysctls: []Sysctl{{"net.ipv4.conf.all.forwarding", "1"}},
		Env:     []string{"NODEVAR=yes"},
		NoIPv6:  true,
	})
	sock := p
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
	sock, dir := startNode(t, Config{Lab: "t", Name: "n2"})
	if err := RunScript(sock, []string{"echo first", "echo second; exit 3"}); err != nil {
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

// TestDialViaProc: the way into a node's network namespace for kernels
// whose setns takes no pidfd reaches the init's socket too (which exists
// only in the node's namespace), and refuses a process that has ended.
func TestDialViaProc(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	p, _ := startNode(t, Config{Lab: "t", Name: "viaproc"})
	pidfd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	fd, err := socketViaProc(p.PID, pidfd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + sockName}); err != nil {
		t.Errorf("connect from the namespace entered through /proc: %v", err)
	}
	// A process that has exited: its pidfd says so.
	c := exec.Command("true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	dead, err := unix.PidfdOpen(c.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dead)
	c.Wait()
	if _, err := socketViaProc(c.Process.Pid, dead); err != ErrNotRunning {
		t.Errorf("via /proc to an ended process: %v, want ErrNotRunning", err)
	}
}
