package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// sockName is init.h's TOPO_SOCK_NAME: the abstract socket each init
// listens on in its own network namespace.
const sockName = "topo-node-init"

// ErrNotRunning says the init to reach has ended (or its PID is another
// process's now).
var ErrNotRunning = errors.New("the node's init is not running")

// dial connects to p's init. The socket is made in the node's network
// namespace, entered through a pidfd of the init checked against its
// start time, so a reused PID never leads to another node.
func dial(p Proc) (*net.UnixConn, error) {
	if p.PID <= 0 {
		return nil, ErrNotRunning
	}
	pidfd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("pidfd of %d: %w", p.PID, err)
	}
	defer unix.Close(pidfd)
	if st, err := StartTime(p.PID); err != nil || st != p.Start {
		return nil, ErrNotRunning
	}
	fd, err := socketIn(pidfd)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	sa := &unix.SockaddrUnix{Name: "@" + sockName}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "node "+sockName)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// socketIn makes a SOCK_SEQPACKET socket in the network namespace of the
// process pidfd refers to. The calling thread enters it for the socket
// call alone; a thread that cannot return is left locked, so that Go
// retires it rather than run other goroutines in the node's namespace.
func socketIn(pidfd int) (int, error) {
	runtime.LockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer unix.Close(self)
	if err := unix.Setns(pidfd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("enter the node's network namespace: %w", err)
	}
	fd, serr := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("leave the node's network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fd, serr
}
