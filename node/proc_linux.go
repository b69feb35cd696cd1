package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Proc identifies a node's init: its PID and its start time (clock ticks
// since boot), because PIDs are reused.
type Proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// initArg is the marker that makes a node's init recognisable in ps and to
// FindInits: argv is "topo __init NODEDIR NODE".
const initArg = "__init"

// StartTime reads a process's start time from /proc/PID/stat.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Alive reports whether p is still the same running process (not a zombie,
// not a reused PID).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := StartTime(p.PID)
	if err != nil || st != p.Start {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// NetNSPath is the path of the node's network namespace.
func (p Proc) NetNSPath() string { return "/proc/" + strconv.Itoa(p.PID) + "/ns/net" }

// FindInits lists the running inits started for the nodes of dir, and the
// lab's init, found by their command line, whatever any state file says.
// It is how a lab whose topo up was killed before writing its state is
// still ended.
func FindInits(dir string) ([]Proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	want := []byte("\x00" + initArg + "\x00" + dir + "\x00")
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		st, err := StartTime(pid)
		if err != nil {
			continue
		}
		out = append(out, Proc{PID: pid, Start: st})
	}
	return out, nil
}

// Kill ends every given init with SIGKILL and waits until each has exited,
// which, for the PID 1 of a namespace, means every process of the node has.
// A process that is already gone, or whose PID now names another process,
// is left alone and counts as done.
func Kill(ctx context.Context, procs []Proc) error {
	_, err := signal(ctx, procs, unix.SIGKILL, true)
	return err
}

// Doom sends SIGKILL to every given init and returns without waiting for
// them to exit. A process with SIGKILL pending never runs its own code
// again; the kernel ends it, the rest of its PID namespace with it, and
// frees its namespaces and interfaces in the background, as it frees a
// namespace after ip netns del. A process that is already gone, or whose
// PID now names another process, is left alone.
func Doom(procs []Proc) error {
	_, err := signal(context.Background(), procs, unix.SIGKILL, false)
	return err
}

// signal sends sig to every given process that is still the one named, and
// with wait, waits until each has exited. It returns how many it signalled.
func signal(ctx context.Context, procs []Proc, sig unix.Signal, wait bool) (int, error) {
	// Open a pidfd of each and check that it is still ours. Reading
	// /proc/PID/stat costs: spread it over a few goroutines.
	fds := make([]int, len(procs))
	errs := make([]error, len(procs))
	workers := min(max(len(procs)/64, 1), 2*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(procs); i += workers {
				p := procs[i]
				fds[i] = -1
				fd, err := unix.PidfdOpen(p.PID, 0)
				if err != nil {
					if !errors.Is(err, unix.ESRCH) {
						errs[i] = fmt.Errorf("pidfd %d: %w", p.PID, err)
					}
					continue
				}
				// The pidfd names the process it was opened on: check
				// that this is still ours.
				if st, err := StartTime(p.PID); err != nil || st != p.Start {
					unix.Close(fd)
					continue
				}
				fds[i] = fd
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	// Then signal them all in a row: a killed init's exit takes a CPU at
	// once and slows whatever else runs.
	var pending []int
	for i, fd := range fds {
		if fd < 0 {
			continue
		}
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs[i] = fmt.Errorf("kill %d: %w", procs[i].PID, err)
			}
			continue
		}
		pending = append(pending, fd)
	}
	sent := len(pending)
	if !wait {
		return sent, errors.Join(errs...)
	}
	// A pidfd polls readable once its process has exited.
	for len(pending) > 0 {
		n := min(len(pending), 1024)
		pfds := make([]unix.PollFd, n)
		for i := range n {
			pfds[i] = unix.PollFd{Fd: int32(pending[i]), Events: unix.POLLIN}
		}
		if _, err := unix.Poll(pfds, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return sent, errors.Join(append(errs, err)...)
		}
		var still []int
		for i, pfd := range pfds {
			if pfd.Revents == 0 {
				still = append(still, pending[i])
			}
		}
		pending = append(still, pending[n:]...)
		if len(pending) > 0 && ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%d node inits still exiting: %w", len(pending), ctx.Err()))
			break
		}
	}
	// Reap the ones that are our own children (rollback within topo up).
	for _, p := range procs {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(p.PID, &ws, unix.WNOHANG, nil)
	}
	return sent, errors.Join(errs...)
}

// waitTick is how often loops that wait on the kernel look again.
const waitTick = 5 * time.Millisecond

// Init is a node init, or a lab init, found running, with where it belongs.
type Init struct {
	Proc
	// Dir is the lab's node folder it was started for, Name its node (""
	// for the lab init).
	Dir, Name string
}

// FindAllInits lists every running node init and lab init on the machine,
// of any lab, whatever the state folders say. A process counts only if its
// command line is an init's and it is PID 1 of its own PID namespace, so
// that a process that merely looks like one is left alone.
func FindAllInits() ([]Init, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Init
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) < 3 || len(args) > 4 || args[0] != "topo" || args[1] != initArg || !isNSInit(pid) {
			continue
		}
		st, err := StartTime(pid)
		if err != nil {
			continue
		}
		in := Init{Proc: Proc{PID: pid, Start: st}, Dir: args[2]}
		if len(args) == 4 {
			in.Name = args[3]
		}
		out = append(out, in)
	}
	return out, nil
}

// isNSInit reports whether pid is PID 1 of a PID namespace of its own.
func isNSInit(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(v)
			return len(f) >= 2 && f[len(f)-1] == "1"
		}
	}
	return false
}
