package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startTimeout bounds how long an init may take to report ready.
const startTimeout = 30 * time.Second

// Start starts the init of a node whose files live in dir (the lab's node
// folder, which must exist), waits until it reports ready and returns it.
// Run from the host's namespaces. The init outlives the caller; on error
// nothing of the node is left running, though its files in dir remain.
func Start(ctx context.Context, dir string, cfg Config) (Proc, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return Proc{}, err
	}
	if err := os.WriteFile(ConfigPath(dir, cfg.Name), b, 0o600); err != nil {
		return Proc{}, fmt.Errorf("write node config: %w", err)
	}
	logf, err := os.OpenFile(LogPath(dir, cfg.Name), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return Proc{}, fmt.Errorf("open node log: %w", err)
	}
	defer logf.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return Proc{}, err
	}
	defer rd.Close()

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"topo", initArg, dir, cfg.Name},
		Env:        []string{"PATH=" + defaultPath},
		Dir:        "/",
		Stdout:     logf,
		Stderr:     logf,
		ExtraFiles: []*os.File{wr},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
				unix.CLONE_NEWPID | unix.CLONE_NEWNS,
			// Its own session: no terminal, and no signal for topo's
			// process group (Ctrl-C) reaches it.
			Setsid: true,
		},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return Proc{}, fmt.Errorf("start init: %w", err)
	}
	pid := cmd.Process.Pid
	st, stErr := StartTime(pid)
	_ = cmd.Process.Release()
	p := Proc{PID: pid, Start: st}

	// The init writes "ok" and closes the pipe once ready, or an error.
	type result struct {
		msg string
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(rd, 64<<10))
		done <- result{string(b), err}
	}()
	var fail error
	select {
	case r := <-done:
		switch {
		case r.err != nil:
			fail = r.err
		case r.msg == "ok":
		case r.msg == "":
			fail = fmt.Errorf("init exited before it was ready (see %s)", LogPath(dir, cfg.Name))
		default:
			fail = fmt.Errorf("%s", strings.TrimSpace(r.msg))
		}
	case <-ctx.Done():
		fail = ctx.Err()
	case <-time.After(startTimeout):
		fail = fmt.Errorf("init not ready after %v", startTimeout)
	}
	if fail == nil && stErr != nil {
		fail = fmt.Errorf("read init start time: %w", stErr)
	}
	if fail != nil {
		kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Start, _ = StartTime(pid)
		_ = Kill(kctx, []Proc{p})
		return Proc{}, fail
	}
	return p, nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
