package node

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestRecordsRoundTrip(t *testing.T) {
	b, err := runRequest(Cmd{Argv: []string{"sh", "-c", "echo 'a b'"}, Env: []string{"X=1"}, Extra: []string{"Y="}, Dir: "/tmp", TTY: true}, 24, 80)
	if err != nil {
		t.Fatal(err)
	}
	want := "run\x00argv\x00sh\x00argv\x00-c\x00argv\x00echo 'a b'\x00env\x00X=1\x00extra\x00Y=\x00dir\x00/tmp\x00tty\x0024\x0080\x00"
	if string(b) != want {
		t.Errorf("request %q, want %q", b, want)
	}
	if _, err := runRequest(Cmd{Argv: []string{"a\x00b"}}, 0, 0); err == nil {
		t.Error("a NUL in an argument was accepted")
	}
	if _, err := configRecords(Config{Name: "n", Env: []string{"A=\x00"}}); err == nil {
		t.Error("a NUL in the config was accepted")
	}
	for _, c := range []struct {
		in   string
		want reply
		bad  bool
	}{
		{in: "pid\x0042\x00", want: reply{PID: 42}},
		{in: "error\x00x: command not found\x00exit\x00127\x00", want: reply{Error: "x: command not found", Exit: intp(127)}},
		{in: "exit\x00-1\x00", want: reply{Exit: intp(-1)}},
		{in: `{"pid":3}`, bad: true},
		{in: "pid\x0042", bad: true},
		{in: "pid\x00", bad: true},
		{in: "pid\x00x\x00", bad: true},
		{in: "what\x001\x00", bad: true},
		{in: "", bad: true},
	} {
		r, err := parseReply([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("reply %q accepted as %+v", c.in, r)
			}
			continue
		}
		if err != nil || r.PID != c.want.PID || r.Error != c.want.Error || (r.Exit == nil) != (c.want.Exit == nil) ||
			(r.Exit != nil && *r.Exit != *c.want.Exit) {
			t.Errorf("reply %q: %+v, %v; want %+v", c.in, r, err, c.want)
		}
	}
}

func intp(i int) *int { return &i }

// TestInitLookalike runs the test binary with an init's command line
// outside a new PID namespace: the C init must not take over, and
// MaybeRunInit must refuse it.
func TestInitLookalike(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{"topo", initArg, t.TempDir(), "n1"}}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "not a command") {
		t.Errorf("lookalike init: %v, output %q; want status 2 and a refusal", err, out)
	}
}

// status reads one field of /proc/PID/status.
func status(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rawExchange sends one message with the given descriptors and returns the
// reply, or "" when the init closed the connection without one.
func rawExchange(t *testing.T, sock Proc, msg []byte, fds []int, sndbuf int) string {
	t.Helper()
	c, err := dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sndbuf > 0 {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(msg, oob, nil); err != nil {
		t.Fatalf("send %d bytes: %v", len(msg), err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64<<10)
	n, err := c.Read(b)
	if err != nil && n == 0 {
		return ""
	}
	return string(b[:n])
}

// TestProtocolRobust sends the init malformed requests: each gets an error
// reply (or a closed connection), and the init goes on serving without
// leaking a descriptor.
func TestProtocolRobust(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	p, _ := startNode(t, Config{Lab: "t", Name: "proto"})
	sock := p
	if th := status(t, p.PID, "Threads"); th != "1" {
		t.Errorf("the init has %s threads, want 1 (no Go runtime)", th)
	}
	if out, code := run(t, sock, "true"); code != 0 {
		t.Fatalf("true: %d %q", code, out)
	}
	// The init closes a connection after its client has read the last
	// reply: count once that has happened.
	settled := func() int {
		n, since := fdCount(t, p.PID), time.Now()
		for deadline := since.Add(2 * time.Second); time.Since(since) < 100*time.Millisecond && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			if m := fdCount(t, p.PID); m != n {
				n, since = m, time.Now()
			}
		}
		return n
	}
	fdsBefore := settled()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	nfd := int(null.Fd())
	many := bytes.Repeat([]byte("argv\x00x\x00"), maxRecords+1)
	huge := append([]byte("run\x00argv\x00"), bytes.Repeat([]byte("x"), maxMsg)...)
	huge = append(huge, 0)
	cases := []struct {
		name   string
		msg    []byte
		fds    []int
		sndbuf int
		want   string // in the reply; "" for a closed connection
	}{
		{"no NUL", []byte("garbage"), nil, 0, "bad request: not a sequence"},
		{"JSON", []byte(`{"argv":["true"]}`), []int{nfd, nfd, nfd}, 0, "bad request"},
		{"unknown key", []byte("run\x00bogus\x00x\x00"), nil, 0, `unknown key "bogus"`},
		{"cut short", []byte("run\x00argv\x00"), nil, 0, "cut short"},
		{"tty cut short", []byte("run\x00argv\x00sh\x00tty\x0024\x00"), nil, 0, "cut short"},
		{"no op", []byte("argv\x00true\x00"), []int{nfd, nfd, nfd}, 0, "no run or script"},
		{"no argv", []byte("run\x00"), []int{nfd, nfd, nfd}, 0, "no command"},
		{"no stdio", []byte("run\x00argv\x00true\x00"), nil, 0, "no stdio"},
		{"two fds", []byte("run\x00argv\x00true\x00"), []int{nfd, nfd}, 0, "descriptors"},
		{"four fds", []byte("run\x00argv\x00true\x00"), []int{nfd, nfd, nfd, nfd}, 0, "descriptors"},
		{"eight fds", []byte("run\x00argv\x00true\x00"), []int{nfd, nfd, nfd, nfd, nfd, nfd, nfd, nfd}, 0, "descriptors"},
		{"terminal size", []byte("run\x00argv\x00sh\x00tty\x00-1\x0080\x00"), nil, 0, "terminal size"},
		{"terminal size text", []byte("run\x00argv\x00sh\x00tty\x00x\x0080\x00"), nil, 0, "terminal size"},
		{"too many records", append([]byte("run\x00"), many...), []int{nfd, nfd, nfd}, 4 << 20, "records"},
		{"too long", huge, []int{nfd, nfd, nfd}, 4 << 20, "longer than"},
		{"signal first", []byte("signal\x009\x00"), nil, 0, "unknown key"},
		{"empty", []byte{}, nil, 0, ""},
	}
	for _, c := range cases {
		got := rawExchange(t, sock, c.msg, c.fds, c.sndbuf)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: reply %q, want one with %q", c.name, got, c.want)
		}
		if c.want != "" && !strings.HasPrefix(got, "error\x00") {
			t.Errorf("%s: reply %q is not an error", c.name, got)
		}
	}
	// Random messages made of the protocol's own pieces.
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"run", "script", "argv", "env", "extra", "dir", "tty", "line", "signal", "true", "24", "-1", "/", "", "A=1", "\xff"}
	for range 300 {
		var m []byte
		for range rng.IntN(12) {
			m = append(m, pieces[rng.IntN(len(pieces))]...)
			if rng.IntN(8) != 0 {
				m = append(m, 0)
			}
		}
		var fds []int
		if rng.IntN(2) == 0 {
			fds = []int{nfd, nfd, nfd}
		}
		got := rawExchange(t, sock, m, fds, 0)
		if got != "" && !strings.HasPrefix(got, "error\x00") && !strings.HasPrefix(got, "pid\x00") {
			t.Errorf("message %q: reply %q", m, got)
		}
	}
	if !p.Alive() {
		t.Fatal("the init died")
	}
	if out, code := run(t, sock, "echo", "still-serving"); code != 0 || out != "still-serving\n" {
		t.Errorf("after bad requests: %d %q", code, out)
	}
	if n := settled(); n != fdsBefore {
		t.Errorf("the init holds %d descriptors, %d before the bad requests", n, fdsBefore)
	}
}

// TestCommands covers what a command gets: its environment, working
// directory, status, signals, and its end when its client goes away.
func TestCommands(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	sock, _ := startNode(t, Config{Lab: "t", Name: "cmds", Env: []string{"A=node", "C=node"}})

	// The caller's environment, then the node's, then -e; PATH by default.
	out, code, err := runCmd(t, sock, Cmd{Argv: []string{"sh", "-c", `echo "$A $B $C $D"`},
		Env: []string{"A=caller", "B=caller", "PATH=/usr/bin:/bin"}, Extra: []string{"C=extra", "B=extra2", "D"}})
	if err != nil || code != 0 || out != "node extra2 extra \n" {
		t.Errorf("environment: %d %v %q", code, err, out)
	}
	out, _, _ = runCmd(t, sock, Cmd{Argv: []string{"/usr/bin/env"}})
	if !strings.Contains(out, "PATH="+defaultPath+"\n") || !strings.Contains(out, "A=node\n") {
		t.Errorf("default environment: %q", out)
	}
	// Working directory, "/" where it does not exist.
	for d, want := range map[string]string{"/tmp": "/tmp\n", "/nonexistent-dir": "/\n", "": "/\n", "/etc/hostname": "/\n"} {
		if out, _, _ := runCmd(t, sock, Cmd{Argv: []string{"pwd"}, Dir: d}); out != want {
			t.Errorf("pwd in %q: %q, want %q", d, out, want)
		}
	}
	// Statuses: killed by a signal, not executable, not found.
	if _, code, _ := runCmd(t, sock, Cmd{Argv: []string{"sh", "-c", "kill -TERM $$"}}); code != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM: status %d", code)
	}
	run(t, sock, "sh", "-c", "echo echo hi > /tmp/noexec")
	if _, code, err := runCmd(t, sock, Cmd{Argv: []string{"/tmp/noexec"}}); code != 126 || err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("not executable: %d %v", code, err)
	}
	if _, code, err := runCmd(t, sock, Cmd{Argv: []string{"/tmp/nonexistent"}}); code != 126 || err == nil {
		t.Errorf("missing path: %d %v", code, err)
	}
	if _, code, err := runCmd(t, sock, Cmd{Argv: []string{"true"}, Env: []string{"PATH="}}); code != 127 || err == nil {
		t.Errorf("empty PATH: %d %v", code, err)
	}
	// A relative PATH entry is looked up from "/", as the Go init did.
	if out, code, _ := runCmd(t, sock, Cmd{Argv: []string{"hostname"}, Env: []string{"PATH=bin"}}); code != 0 || out != "cmds\n" {
		t.Errorf("relative PATH: %d %q", code, out)
	}
	// Signals go to the command's process group.
	sigs := make(chan os.Signal, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		sigs <- syscall.SIGTERM
	}()
	if _, code, _ := runCmd(t, sock, Cmd{Argv: []string{"sleep", "20"}, Signals: sigs}); code != 128+int(syscall.SIGTERM) {
		t.Errorf("forwarded SIGTERM: status %d", code)
	}
	// A client that goes away takes its command's process group with it.
	c, err := dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	msg, _ := runRequest(Cmd{Argv: []string{"sh", "-c", "sleep 30 & sleep 30"}}, 0, 0)
	fd := int(null.Fd())
	if _, _, err := c.WriteMsgUnix(msg, unix.UnixRights(fd, fd, fd), nil); err != nil {
		t.Fatal(err)
	}
	r, err := readReply(c)
	if err != nil || r.PID <= 1 {
		t.Fatalf("reply %+v, %v", r, err)
	}
	time.Sleep(100 * time.Millisecond)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := run(t, sock, "sh", "-c", "ps -eo comm= | grep -c '^sleep' || true")
		if strings.TrimSpace(out) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sleep processes left after the client went away", strings.TrimSpace(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMountTargets checks where an init creates missing mount targets: in
// a host-view node only under its private /tmp and /run, whatever the path
// says lexically.
func TestMountTargets(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	src := t.TempDir()
	file := filepath.Join(src, "file")
	if err := os.WriteFile(file, []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock, _ := startNode(t, Config{Lab: "t", Name: "mnt", Mounts: []Mount{
		{Src: src, Dst: "/run/a/b"},
		{Src: file, Dst: "/tmp/c/d/file", ReadOnly: true},
	}})
	if out, code := run(t, sock, "cat", "/run/a/b/file", "/tmp/c/d/file"); code != 0 || out != "content\ncontent\n" {
		t.Errorf("mounted files: %d %q", code, out)
	}
	if _, code := run(t, sock, "sh", "-c", "echo x >> /tmp/c/d/file"); code == 0 {
		t.Error("wrote a read-only file mount")
	}
	for _, dst := range []string{"/nonexistent-topo-dst", "/tmp/../topo-escape/x", "/run/../../topo-escape"} {
		d := t.TempDir()
		_, err := Start(context.Background(), d, Config{Lab: "t", Name: "bad", Mounts: []Mount{{Src: src, Dst: dst}}})
		if err == nil || !strings.Contains(err.Error(), "target does not exist in the node") {
			t.Errorf("mount on %s: %v", dst, err)
		}
		if ps, _ := FindInits(d); len(ps) != 0 {
			t.Errorf("inits left: %v", ps)
		}
	}
	if _, err := os.Stat("/topo-escape"); err == nil {
		os.RemoveAll("/topo-escape")
		t.Error("a mount target was created on the host")
	}
}

// TestSysctlError: a setting the kernel refuses fails the start, naming it.
func TestSysctlError(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	d := t.TempDir()
	_, err := Start(context.Background(), d, Config{Lab: "t", Name: "bad", Sysctls: []Sysctl{{"net.ipv4.no_such_setting", "1"}}})
	if err == nil || !strings.Contains(err.Error(), "node bad: sysctl net.ipv4.no_such_setting=1: open /proc/sys/net/ipv4/no_such_setting: no such file or directory") {
		t.Errorf("err = %v", err)
	}
	if ps, _ := FindInits(d); len(ps) != 0 {
		t.Errorf("inits left: %v", ps)
	}
	// The init made its log to say why it gave up.
	if b, _ := os.ReadFile(LogPath(d, "bad")); !strings.Contains(string(b), "topo init: sysctl net.ipv4.no_such_setting=1") {
		t.Errorf("log of the failed init: %q", b)
	}
}
