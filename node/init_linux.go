package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MaybeRunInit turns this process into a node's init when it was started as
// one by Start, and never returns then. Call it first thing in main and in
// the TestMain of packages whose tests start nodes.
func MaybeRunInit() {
	if len(os.Args) == 4 && os.Args[1] == initArg {
		os.Exit(runInit(os.Args[2], os.Args[3]))
	}
}

// runInit is the whole life of a node's init. It runs already inside the
// node's new namespaces (the clone made them), so every thread of this Go
// process is in them and nothing here needs setns. Its stdout and stderr are
// the node's log; the rest it needs comes as descriptors (see fdReady).
func runInit(dir, name string) int {
	// An idle node should cost little: one P, a lean heap.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	ready := os.NewFile(fdReady, "ready")
	fail := func(err error) int {
		fmt.Fprintf(ready, "node %s: %v", name, err)
		fmt.Fprintf(os.Stderr, "topo init: %v\n", err)
		return 1
	}
	var cfg Config
	cf := os.NewFile(fdConfig, "config")
	err := json.NewDecoder(cf).Decode(&cfg)
	cf.Close()
	if err != nil {
		return fail(fmt.Errorf("read config: %w", err))
	}
	lf := os.NewFile(fdListener, "listener")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	ln := l.(*net.UnixListener)
	ln.SetUnlinkOnClose(false)
	if err := setupFS(&cfg); err != nil {
		return fail(err)
	}
	if err := unix.Sethostname([]byte(cfg.Name)); err != nil {
		return fail(fmt.Errorf("sethostname: %w", err))
	}
	if err := applySysctls(&cfg); err != nil {
		return fail(err)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fail(fmt.Errorf("loopback up: %w", err))
	}
	s := &server{cfg: &cfg, waiters: map[int]chan int{}, spawns: make(chan spawnReq)}
	if err := s.startSpawner(cfg.ClockOffset); err != nil {
		return fail(err)
	}
	s.startReaper()
	// Catch, not ignore: an ignored signal stays ignored in every command
	// the init starts, and Ctrl-C in a node's shell must work.
	discard := make(chan os.Signal, 1)
	signal.Notify(discard, unix.SIGHUP, unix.SIGINT)
	go func() {
		for range discard {
		}
	}()
	if _, err := ready.Write([]byte("ok")); err != nil {
		return 1
	}
	ready.Close()
	// Setup is done: hand back what it allocated, so that an idle node
	// costs little memory.
	debug.FreeOSMemory()
	s.serve(ln)
	return 0
}

func private(p string) bool {
	p = filepath.Clean(p)
	return strings.HasPrefix(p, "/tmp/") || strings.HasPrefix(p, "/run/")
}

func applySysctls(cfg *Config) error {
	var all []Sysctl
	if cfg.NoIPv6 {
		all = append(all,
			Sysctl{"net.ipv6.conf.all.disable_ipv6", "1"},
			Sysctl{"net.ipv6.conf.default.disable_ipv6", "1"})
	} else {
		// A lab's addresses are unique by construction: duplicate
		// address detection only delays them (link-local ones too). A
		// node's own sysctl attribute can turn it back on.
		all = append(all,
			Sysctl{"net.ipv6.conf.all.accept_dad", "0"},
			Sysctl{"net.ipv6.conf.default.accept_dad", "0"})
	}
	if cfg.Forward {
		all = append(all, Sysctl{"net.ipv4.ip_forward", "1"})
		if !cfg.NoIPv6 {
			all = append(all, Sysctl{"net.ipv6.conf.all.forwarding", "1"})
		}
	}
	for _, s := range append(all, cfg.Sysctls...) {
		p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
		if err := os.WriteFile(p, []byte(s.Value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
		}
	}
	return nil
}

// server starts and reaps the node's processes. As PID 1 of the node it also
// reaps every orphan; a command's exit status goes to whoever waits on it.
type server struct {
	cfg *Config
	// mu is held while a child is forked and registered, and while the
	// reaper collects statuses, so that a child that exits at once is never
	// reaped before its waiter exists.
	mu      sync.Mutex
	waiters map[int]chan int
	spawns  chan spawnReq
}

func (s *server) startReaper() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, unix.SIGCHLD)
	go func() {
		for range ch {
			s.reap()
		}
	}()
}

func (s *server) reap() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if w, ok := s.waiters[pid]; ok {
			delete(s.waiters, pid)
			w <- exitCode(ws)
		}
	}
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

type spawnReq struct {
	path      string
	argv, env []string
	dir       string
	files     []uintptr
	tty       bool
	done      chan spawnRes
}

type spawnRes struct {
	pid  int
	wait chan int
	err  error
}

// spawn forks a command and registers its waiter. With tty, the command
// gets a session of its own with files[0] as its controlling terminal;
// otherwise a process group of its own.
func (s *server) spawn(path string, argv, env []string, dir string, files []uintptr, tty bool) (int, chan int, error) {
	r := spawnReq{path, argv, env, dir, files, tty, make(chan spawnRes, 1)}
	s.spawns <- r
	res := <-r.done
	return res.pid, res.wait, res.err
}

// startSpawner starts the one goroutine that forks every command of the
// node, locked to its thread. A time namespace is entered by unshare, which
// changes only the calling thread's namespace for its children: forking
// always from that thread is what puts every command in it.
func (s *server) startSpawner(offset time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread's namespaces differ from the rest.
		if offset != 0 {
			if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
				errc <- fmt.Errorf("time namespace: %w", err)
				return
			}
			secs := int64(offset / time.Second)
			off := fmt.Sprintf("monotonic %d 0\nboottime %d 0\n", secs, secs)
			p := fmt.Sprintf("/proc/%d/timens_offsets", unix.Gettid())
			if err := os.WriteFile(p, []byte(off), 0); err != nil {
				errc <- fmt.Errorf("clock offsets: %w", err)
				return
			}
		}
		errc <- nil
		for r := range s.spawns {
			sys := &syscall.SysProcAttr{Setpgid: true}
			if r.tty {
				sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			}
			s.mu.Lock()
			pid, err := syscall.ForkExec(r.path, r.argv, &syscall.ProcAttr{Dir: r.dir, Env: r.env, Files: r.files, Sys: sys})
			var w chan int
			if err == nil {
				w = make(chan int, 1)
				s.waiters[pid] = w
			}
			s.mu.Unlock()
			r.done <- spawnRes{pid, w, err}
		}
	}()
	return <-errc
}

func (s *server) serve(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go s.handle(c)
	}
}

func send(c *net.UnixConn, r reply) {
	b, _ := json.Marshal(r)
	_, _ = c.Write(b)
}

func (s *server) handle(c *net.UnixConn) {
	defer c.Close()
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var fds []int
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var req request
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		send(c, reply{Error: "bad request: " + err.Error(), Exit: intp(2)})
		return
	}
	if len(req.Script) > 0 {
		go s.runScript(req.Script)
		send(c, reply{PID: 1})
		return
	}
	if len(req.Argv) == 0 || (len(fds) != 3 && !req.TTY) {
		send(c, reply{Error: "bad request: no command or no stdio", Exit: intp(2)})
		return
	}
	env := s.environ(req.Env, req.Extra)
	path, err := lookPath(req.Argv[0], env)
	if err != nil {
		send(c, reply{Error: err.Error(), Exit: intp(127)})
		return
	}
	dir := req.Dir
	if st, err := os.Stat(dir); dir == "" || err != nil || !st.IsDir() {
		dir = "/"
	}
	stdio := fds
	var master *os.File
	if req.TTY {
		m, slave, err := openPTY(req.Rows, req.Cols)
		if err != nil {
			send(c, reply{Error: "pseudo-terminal: " + err.Error(), Exit: intp(1)})
			return
		}
		master = m
		defer master.Close()
		defer unix.Close(slave)
		stdio = []int{slave, slave, slave}
	}
	pid, wait, err := s.spawn(path, req.Argv, env, dir, []uintptr{uintptr(stdio[0]), uintptr(stdio[1]), uintptr(stdio[2])}, req.TTY)
	if err != nil {
		send(c, reply{Error: fmt.Sprintf("%s: %v", req.Argv[0], err), Exit: intp(126)})
		return
	}
	// The child holds its own copies of the descriptors now; for a
	// terminal, the client gets the master.
	if master != nil {
		b, _ := json.Marshal(reply{PID: pid})
		_, _, _ = c.WriteMsgUnix(b, unix.UnixRights(int(master.Fd())), nil)
	} else {
		send(c, reply{PID: pid})
	}

	gone := make(chan struct{})
	go func() {
		defer close(gone)
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			if err != nil || n == 0 {
				return
			}
			var m signalMsg
			if json.Unmarshal(b[:n], &m) == nil && m.Signal > 0 {
				_ = unix.Kill(-pid, unix.Signal(m.Signal))
			}
		}
	}()
	select {
	case code := <-wait:
		send(c, reply{Exit: &code})
	case <-gone:
		// The client went away: so does its command.
		_ = unix.Kill(-pid, unix.SIGKILL)
		<-wait
	}
}

// runScript runs the lab's exec lines one after another, output to the log.
func (s *server) runScript(lines []string) {
	env := s.environ(nil, nil)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return
	}
	defer null.Close()
	for _, line := range lines {
		fmt.Fprintf(os.Stdout, "topo: exec: %s\n", line)
		_, wait, err := s.spawn("/bin/sh", []string{"/bin/sh", "-c", line}, env, "/", []uintptr{null.Fd(), 1, 2}, false)
		if err != nil {
			fmt.Fprintf(os.Stdout, "topo: exec failed: %v\n", err)
			continue
		}
		if code := <-wait; code != 0 {
			fmt.Fprintf(os.Stdout, "topo: exec exited with status %d: %s\n", code, line)
		}
	}
}

// environ builds a command's environment: the caller's, then the node's
// env attribute, then the command's own -e settings, later ones winning.
func (s *server) environ(caller, extra []string) []string {
	idx := map[string]int{}
	var env []string
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			env[i] = kv
			return
		}
		idx[k] = len(env)
		env = append(env, kv)
	}
	for _, l := range [][]string{caller, s.cfg.Env, extra} {
		for _, kv := range l {
			add(kv)
		}
	}
	if _, ok := idx["PATH"]; !ok {
		add("PATH=" + defaultPath)
	}
	return env
}

func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", file)
}

func intp(i int) *int { return &i }

// openPTY opens a pseudo-terminal pair in the node's /dev/pts: the master
// as a file and the slave as a raw descriptor.
func openPTY(rows, cols uint16) (*os.File, int, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, err
	}
	master := os.NewFile(uintptr(mfd), "ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, -1, fmt.Errorf("unlock: %w", err)
	}
	if rows > 0 && cols > 0 {
		_ = unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	// TIOCGPTPEER opens the slave through the master itself, whatever
	// devpts the node's /dev/pts is.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		master.Close()
		return nil, -1, fmt.Errorf("open slave: %w", errno)
	}
	return master, int(sfd), nil
}
