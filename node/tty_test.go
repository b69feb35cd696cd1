package node

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
	"golang.org/x/sys/unix"
)

// hostPTY opens a pseudo-terminal pair in the test's own namespace: the
// slave stands for the user's terminal, the master for the user.
func hostPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, s, err := openPTY(24, 80)
	if err != nil {
		t.Fatal(err)
	}
	slave = os.NewFile(uintptr(s), "slave")
	t.Cleanup(func() { m.Close(); slave.Close() })
	return m, slave
}

// screen collects what the "user" sees on the master side.
type screen struct {
	buf  bytes.Buffer
	ch   chan []byte
	done chan struct{}
}

func watch(m *os.File) *screen {
	s := &screen{ch: make(chan []byte, 64), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			if n > 0 {
				s.ch <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !strings.Contains(s.buf.String(), want) {
		select {
		case b := <-s.ch:
			s.buf.Write(b)
		case <-deadline:
			t.Fatalf("screen never showed %q; it shows:\n%s", want, s.buf.String())
		}
	}
	// Consume up to the match so later waits see only new output.
	i := strings.Index(s.buf.String(), want)
	rest := s.buf.String()[i+len(want):]
	s.buf.Reset()
	s.buf.WriteString(rest)
}

func TestTTYShell(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	sock, dir := startNode(t, Config{Lab: "t", Name: "tty1"})
	m, slave := hostPTY(t)
	sc := watch(m)
	sigs := make(chan os.Signal, 4)
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := Run(sock, Cmd{
			Argv: []string{"/bin/sh", "-i"}, Env: []string{"PS1=node-prompt$ ", "TERM=dumb"},
			Stdin: slave, Stdout: slave, Stderr: slave, Signals: sigs, TTY: true,
		})
		res <- result{code, err}
	}()
	type1 := func(s string) {
		if _, err := m.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	sc.waitFor(t, "node-prompt$ ")
	type1("echo hi-$((40+2)); tty\n")
	sc.waitFor(t, "hi-42")
	sc.waitFor(t, "/dev/pts/")
	// Resize: the user's terminal changes size, topo passes it on.
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111}); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGWINCH
	time.Sleep(100 * time.Millisecond)
	type1("stty size\n")
	sc.waitFor(t, "33 111")
	// Ctrl-C reaches the foreground program in the node, not topo.
	type1("sleep 100; echo not-interrupted\n")
	time.Sleep(200 * time.Millisecond)
	type1("\x03")
	type1("echo after-$((1+1))-ctrl-c\n")
	sc.waitFor(t, "after-2-ctrl-c")
	if strings.Contains(sc.buf.String(), "not-interrupted") {
		t.Error("sleep was not interrupted")
	}
	type1("exit 5\n")
	select {
	case r := <-res:
		if r.err != nil || r.code != 5 {
			t.Errorf("shell ended with %d, %v; want 5", r.code, r.err)
		}
	case <-time.After(5 * time.Second):
		for len(sc.ch) > 0 {
			sc.buf.Write(<-sc.ch)
		}
		out, _ := os.CreateTemp(t.TempDir(), "ps")
		Run(sock, Cmd{Argv: []string{"ps", "-eo", "pid,ppid,pgid,sid,stat,tty,args"}, Stdin: out, Stdout: out, Stderr: out})
		b, _ := os.ReadFile(out.Name())
		t.Logf("ps: %s", b)
		b, _ = os.ReadFile(LogPath(dir, "tty1"))
		t.Logf("log: %s", b)
		t.Fatalf("shell did not end; screen:\n%q", sc.buf.String())
	}
}

func TestPipesAreByteExact(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	sock, _ := startNode(t, Config{Lab: "t", Name: "pipe1"})
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	in, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	in.Write(data)
	in.Seek(0, 0)
	out, _ := os.CreateTemp(t.TempDir(), "out")
	code, err := Run(sock, Cmd{Argv: []string{"cat"}, Stdin: in, Stdout: out, Stderr: os.Stderr})
	if err != nil || code != 0 {
		t.Fatalf("cat: %d %v", code, err)
	}
	got, _ := os.ReadFile(out.Name())
	if !bytes.Equal(got, data) {
		t.Errorf("cat through the node changed the bytes: %d in, %d out", len(data), len(got))
	}
}
