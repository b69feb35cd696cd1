package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"

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
// the node's log; fd 3 is the ready pipe.
func runInit(dir, name string) int {
	// An idle node should cost little: one P, a lean heap.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	ready := os.NewFile(3, "ready")
	fail := func(err error) int {
		fmt.Fprintf(ready, "node %s: %v", name, err)
		fmt.Fprintf(os.Stderr, "topo init: %v\n", err)
		return 1
	}
	var cfg Config
	b, err := os.ReadFile(ConfigPath(dir, name))
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(fmt.Errorf("read config: %w", err))
	}
	// Listen before /run is replaced by the node's own: the socket lives in
	// the host's state folder.
	ln, err := listenSeqpacket(SockPath(dir, name))
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	if err := setupFS(dir, &cfg); err != nil {
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
	s := &server{cfg: &cfg, waiters: map[int]chan int{}}
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

// setupFS gives the node its own view of the filesystem. Sources of bind
// mounts are opened first, because the node's private /tmp and /run hide
// whatever the host has there.
func setupFS(dir string, cfg *Config) error {
	// Nothing mounted from here on may propagate to the host, where / is
	// a shared mount on systemd machines.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	srcs := make([]*os.File, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		fd, err := unix.Open(m.Src, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount %s: open source: %w", m.Src, err)
		}
		srcs[i] = os.NewFile(uintptr(fd), m.Src)
		defer srcs[i].Close()
	}
	content := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if cfg.HostsFile != "" {
		b, err := os.ReadFile(cfg.HostsFile)
		if err != nil {
			return fmt.Errorf("read hosts: %w", err)
		}
		content = string(b)
	}
	hosts, err := writeFile(filepath.Join(dir, cfg.Name+".hosts"), content)
	if err != nil {
		return fmt.Errorf("write hosts: %w", err)
	}
	defer hosts.Close()
	hostname, err := writeFile(filepath.Join(dir, cfg.Name+".hostname"), cfg.Name+"\n")
	if err != nil {
		return fmt.Errorf("write hostname: %w", err)
	}
	defer hostname.Close()
	const nodev = unix.MS_NOSUID | unix.MS_NODEV
	steps := []struct {
		fstype, target, data string
		flags                uintptr
	}{
		{"proc", "/proc", "", nodev | unix.MS_NOEXEC},
		{"sysfs", "/sys", "", nodev | unix.MS_NOEXEC},
		{"tmpfs", "/tmp", "mode=1777", nodev},
		{"tmpfs", "/run", "mode=755", nodev},
	}
	for _, s := range steps {
		if err := unix.Mount(s.fstype, s.target, s.fstype, s.flags, s.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", s.fstype, s.target, err)
		}
	}
	if err := bindContent(hosts, "/etc/hosts"); err != nil {
		return err
	}
	if err := bindContent(hostname, "/etc/hostname"); err != nil {
		return err
	}
	for i, m := range cfg.Mounts {
		if err := bindMount(srcs[i], m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Src, m.Dst, err)
		}
	}
	return nil
}

// bindContent puts a node-private file with the given content over path.
// The file lives in the node's folder on the host (a mount needs a path, and
// the node's /run is not the host's), opened before /run is replaced.
func bindContent(file *os.File, path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing to cover (and nowhere to mount) on this host
	}
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(int(file.Fd())), path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", path, err)
	}
	return nil
}

// writeFile writes content to path and returns it opened for a later bind.
func writeFile(path, content string) (*os.File, error) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return nil, err
	}
	return os.Open(path)
}

// bindMount binds src onto m.Dst. A missing target is created only inside
// the node's private /tmp or /run: anywhere else it would appear on the host.
func bindMount(src *os.File, m Mount) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if _, err := os.Lstat(m.Dst); errors.Is(err, fs.ErrNotExist) {
		if !private(m.Dst) {
			return fmt.Errorf("target does not exist in the node (topo creates targets only under /tmp and /run)")
		}
		if isDir {
			err = os.MkdirAll(m.Dst, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(m.Dst), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(m.Dst, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return err
		}
	}
	p := "/proc/self/fd/" + strconv.Itoa(int(src.Fd()))
	if err := unix.Mount(p, m.Dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if err := unix.Mount("", m.Dst, "", flags, ""); err != nil {
			return fmt.Errorf("make read-only: %w", err)
		}
	}
	return nil
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

// spawn forks a command and registers its waiter.
// With tty, the command gets a session of its own with files[0] as its
// controlling terminal; otherwise a process group of its own.
func (s *server) spawn(path string, argv, env []string, dir string, files []uintptr, tty bool) (int, chan int, error) {
	sys := &syscall.SysProcAttr{Setpgid: true}
	if tty {
		sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		return 0, nil, err
	}
	w := make(chan int, 1)
	s.waiters[pid] = w
	return pid, w, nil
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
