package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LabInit is the init of a lab: PID 1 of the lab's own PID namespace, in
// which the PID namespace of every node of the lab is made (LabInit.Start).
// When it ends, the kernel ends every process of the lab: ending a lab is
// one signal, whatever its size, and no process of it can outlive it, not
// even one that entered a node from outside.
type LabInit struct {
	Proc
	ns    *os.File   // the lab's PID namespace
	host  *os.File   // the host's, to come back to
	ready chan error // awaitReady's result

	readyOnce sync.Once
	readyErr  error
}

// StartLab starts the init of a lab whose node folder is dir ("topo __init
// DIR": a node's init has the node's name after it). It returns once the
// process and its PID namespace exist, so that nodes can start in it while
// it comes up; Ready says whether it did. Close releases what the caller
// holds of it; it runs on until killed.
func StartLab(ctx context.Context, dir string) (*LabInit, error) {
	if !haveInit {
		return nil, errors.New("this topo was built without cgo, which nodes need (build with CGO_ENABLED=1)")
	}
	host, err := os.Open("/proc/self/ns/pid")
	if err != nil {
		return nil, fmt.Errorf("lab init: %w", err)
	}
	rd, wr, err := readyPair()
	if err != nil {
		host.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"topo", initArg, dir},
		Env:        []string{},
		Dir:        "/",
		ExtraFiles: []*os.File{wr},
		// Its own session, like a node's: no terminal, no Ctrl-C.
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Setsid: true},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		rd.Close()
		host.Close()
		return nil, fmt.Errorf("start lab init: %w", err)
	}
	pid := cmd.Process.Pid
	st, fail := StartTime(pid)
	l := &LabInit{Proc: Proc{PID: pid, Start: st}, host: host, ready: make(chan error, 1)}
	if fail == nil {
		l.ns, fail = os.Open("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	}
	if fail != nil {
		rd.Close()
		kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Start, _ = StartTime(pid)
		_ = Kill(kctx, []Proc{l.Proc})
		_, _ = cmd.Process.Wait()
		l.Close()
		return nil, fmt.Errorf("lab init: %w", fail)
	}
	go func() {
		_, err := awaitReady(ctx, rd)
		rd.Close()
		l.ready <- err
		// Reap it when it ends, should this process still run then (a
		// lab ended by a program that also made it).
		_, _ = cmd.Process.Wait()
	}()
	return l, nil
}

// Ready waits until the lab init has reported, and says whether it came
// up. A lab init that did not is for the caller to kill.
func (l *LabInit) Ready() error {
	l.readyOnce.Do(func() {
		if err := <-l.ready; err != nil {
			l.readyErr = fmt.Errorf("lab init: %w", err)
		}
	})
	return l.readyErr
}

// EndLab asks the lab init p to end its lab, and returns: the init ends the
// nodes one after another, each once the one before has exited, and then
// itself, leaving the CPUs to what runs next (the nodes of a 1000-node lab
// are gone about 0.7 s later here). Kill ends them all at once and waits
// (0.12 s).
// It says false, and does nothing, when p is gone, or its PID names
// another process now.
func EndLab(p Proc) (bool, error) {
	n, err := signal(context.Background(), []Proc{p}, unix.SIGTERM, false)
	return n == 1, err
}

// Close releases the namespace descriptors; the lab init runs on.
func (l *LabInit) Close() error {
	if l.ns != nil {
		l.ns.Close()
	}
	return l.host.Close()
}

// StartNode starts a node of the lab, as Start does, its PID namespace
// made in the lab's.
func (l *LabInit) StartNode(ctx context.Context, dir string, cfg Config) (Proc, error) {
	return start(ctx, dir, cfg, l)
}

// spawn starts cmd from a thread whose new processes go into the lab's PID
// namespace. Only that thread switches (a PID namespace applies to the
// children of the thread that enters it), and it comes back before it is
// handed back to the Go scheduler; one that cannot stays locked and ends
// with its goroutine.
func (l *LabInit) spawn(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	if err := unix.Setns(int(l.ns.Fd()), unix.CLONE_NEWPID); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter the lab's PID namespace: %w", err)
	}
	err := cmd.Start()
	if unix.Setns(int(l.host.Fd()), unix.CLONE_NEWPID) == nil {
		runtime.UnlockOSThread()
	}
	return err
}
