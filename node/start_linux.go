package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startTimeout bounds how long an init may take to report ready.
const startTimeout = 30 * time.Second

// The descriptors an init is started with.
const (
	fdReady  = 3 // the init writes "ok" or an error, then closes it
	fdConfig = 4 // the Config, as records (see configRecords)
	// fdDir is an O_PATH descriptor of the node folder, where the init
	// makes its log on its first line (a userns node gets /dev/null: its
	// log is its stdout already).
	fdDir      = 5
	fdHosts    = 6 // the content of its /etc/hosts, to read (the init copies it)
	fdHostname = 7 // unused: /dev/null
	fdMounts   = 8 // one detached bind mount per Mount, then, with an
	// Image, detached bind mounts of the image and of the node's FSPath
	// folder (holding the overlay's upper and work folders).
)

// FSPath is the folder of the node's own files when it has an image: the
// overlay's upper (the node's writes) and work folders.
func FSPath(dir, name string) string { return filepath.Join(dir, name+".fs") }

// Start starts the init of a node whose files live in dir (the lab's node
// folder, which must exist), waits until it reports ready and returns it.
// Run from the host's namespaces. The init outlives the caller; on error
// nothing of the node is left running, though its files in dir remain.
func Start(ctx context.Context, dir string, cfg Config) (Proc, error) {
	return start(ctx, dir, cfg, nil)
}

func start(ctx context.Context, dir string, cfg Config, lab *LabInit) (Proc, error) {
	if !haveInit {
		return Proc{}, errors.New("this topo was built without cgo, which nodes need (build with CGO_ENABLED=1)")
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	add := func(f *os.File) { files = append(files, f) }

	rd, wr, err := readyPair()
	if err != nil {
		return Proc{}, err
	}
	defer rd.Close()
	add(wr)

	rec, err := configRecords(cfg)
	if err != nil {
		return Proc{}, fmt.Errorf("node config: %w", err)
	}
	f, err := memFile("topo-node-config", rec)
	if err != nil {
		return Proc{}, fmt.Errorf("node config: %w", err)
	}
	add(f)

	// The log is made when the init first writes to it (most nodes
	// never do), in the folder it is given; a userns node's init could not
	// create it there, and gets it now.
	var logf *os.File
	if cfg.UserNS {
		logf, err = os.OpenFile(LogPath(dir, cfg.Name), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return Proc{}, fmt.Errorf("open node log: %w", err)
		}
		defer logf.Close()
		add(nil) // fdDir: /dev/null, set below
	} else {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return Proc{}, fmt.Errorf("node folder: %w", err)
		}
		add(os.NewFile(uintptr(fd), dir))
	}

	// A node with a user namespace owns its files as its mapped root.
	owner := -1
	if cfg.UserNS {
		owner = UserNSBase
	}
	// The init copies the lab's hosts file into the node (one file for the
	// whole lab: a copy per node would cost N*N bytes in the state).
	hosts, err := hostsSource(cfg.HostsFile)
	if err != nil {
		return Proc{}, err
	}
	add(hosts)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return Proc{}, err
	}
	add(null)
	if files[fdDir-fdReady] == nil {
		files[fdDir-fdReady] = null
	}
	if logf == nil {
		logf = null
	}
	for _, m := range cfg.Mounts {
		f, err := openTree(m.Src)
		if err != nil {
			return Proc{}, fmt.Errorf("mount %s: %w", m.Src, err)
		}
		add(f)
	}
	if cfg.Image != "" {
		fsDir := FSPath(dir, cfg.Name)
		img, err := openTree(cfg.Image)
		if err != nil {
			return Proc{}, fmt.Errorf("image: %w", err)
		}
		add(img)
		for _, sub := range []string{"upper", "work"} {
			p := filepath.Join(fsDir, sub)
			if err := os.MkdirAll(p, 0o755); err != nil {
				return Proc{}, err
			}
			if owner >= 0 {
				if err := os.Chown(p, owner, owner); err != nil {
					return Proc{}, err
				}
			}
		}
		f, err := openTree(fsDir)
		if err != nil {
			return Proc{}, err
		}
		add(f)
	}

	sys := &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
			unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP,
		// Its own session: no terminal, and no signal for topo's
		// process group (Ctrl-C) reaches it.
		Setsid: true,
	}
	if cfg.UserNS {
		sys.Cloneflags |= unix.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: UserNSBase, Size: UserNSSize}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: UserNSBase, Size: UserNSSize}}
		sys.GidMappingsEnableSetgroups = true
		// Become the namespace's root: host root's own ids are not mapped
		// in it, and would leave the init without any capability there.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"topo", initArg, dir, cfg.Name},
		Env:         []string{"PATH=" + defaultPath},
		Dir:         "/",
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  files,
		SysProcAttr: sys,
	}
	if lab != nil {
		// The process started makes the node's PID namespace and its
		// init (init.c, become_pid1), and exits.
		sys.Cloneflags &^= unix.CLONE_NEWPID
		err = lab.spawn(cmd)
	} else {
		err = cmd.Start()
	}
	// The init has its copies; ours are closed by the deferred loop.
	wr.Close()
	files[0] = nil
	if err != nil {
		return Proc{}, fmt.Errorf("start init: %w", err)
	}
	pid := cmd.Process.Pid
	var p Proc
	var stErr error
	if lab == nil {
		p.PID = pid
		p.Start, stErr = StartTime(pid)
		_ = cmd.Process.Release()
	}
	reporter, fail := awaitReady(ctx, rd)
	if lab != nil {
		if fail != nil {
			_ = cmd.Process.Kill()
		}
		_, _ = cmd.Process.Wait()
		if reporter > 0 && reporter != pid {
			p.PID = reporter
			p.Start, stErr = StartTime(reporter)
		} else if fail == nil {
			fail = errors.New("init not made")
		}
	}
	if errors.Is(fail, errSilentExit) {
		fail = fmt.Errorf("init exited before it was ready (see %s)", LogPath(dir, cfg.Name))
	}
	if fail == nil && stErr != nil {
		fail = fmt.Errorf("read init start time: %w", stErr)
	}
	if fail != nil {
		if p.PID > 0 {
			kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.Start, _ = StartTime(p.PID)
			_ = Kill(kctx, []Proc{p})
		}
		return Proc{}, fail
	}
	return p, nil
}

// errSilentExit is awaitReady's error for an init that exited without
// a word.
var errSilentExit = errors.New("init exited before it was ready")

// readyPair makes the channel an init reports ready on: a socket pair,
// on which the kernel says which process wrote (SO_PASSCRED), in the
// reader's PID namespace. A node of a lab is not the process topo starts
// but its child.
func readyPair() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ready socket: %w", err)
	}
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("ready socket: %w", err)
	}
	// Non-blocking, for Go's poller: closing the file ends a read.
	_ = unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "ready"), os.NewFile(uintptr(fds[1]), "ready"), nil
}

// awaitReady waits for an init's report on its ready socket (readyPair):
// nil for "ok", else why it failed. pid is the process that reported, as
// the kernel tells (0 when none did).
func awaitReady(ctx context.Context, rd *os.File) (pid int, err error) {
	type result struct {
		msg string
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		rc, err := rd.SyscallConn()
		if err != nil {
			done <- result{err: err}
			return
		}
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
		for len(r.msg) < 64<<10 {
			var n, oobn int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
				return rerr != unix.EAGAIN
			})
			if err == nil {
				err = rerr
			}
			if err != nil {
				r.err = err
				break
			}
			if n == 0 {
				break
			}
			r.msg += string(buf[:n])
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 && r.pid == 0 {
				if c, err := unix.ParseUnixCredentials(&msgs[0]); err == nil {
					r.pid = int(c.Pid)
				}
			}
		}
		done <- r
	}()
	select {
	case r := <-done:
		switch {
		case r.err != nil:
			return r.pid, r.err
		case r.msg == "ok":
			return r.pid, nil
		case r.msg == "":
			return 0, errSilentExit
		default:
			return r.pid, errors.New(strings.TrimSpace(r.msg))
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(startTimeout):
		return 0, fmt.Errorf("init not ready after %v", startTimeout)
	}
}

// hostsSource opens the lab's hosts file, or a memfd with localhost alone.
func hostsSource(path string) (*os.File, error) {
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read hosts: %w", err)
		}
		return f, nil
	}
	fd, err := unix.MemfdCreate("hosts", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "hosts")
	if _, err := f.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// memFile is an anonymous file holding b, read from its start.
func memFile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openTree makes a detached bind mount of p (with everything mounted below
// it): the init attaches it with move_mount. A plain descriptor would not
// do: bind mount sources must lie in the caller's mount namespace, and the
// init's is a copy, made after the descriptor.
func openTree(p string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
