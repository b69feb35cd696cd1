package node

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/topo-lab/topo/internal/netns"
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
	fd, err := netns.Socket(pidfd, unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.8 cannot setns through a pidfd: go through
		// /proc, and check the pidfd's process is still alive after the
		// open, so the namespace opened is its.
		fd, err = socketViaProc(p.PID, pidfd)
	}
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

// socketViaProc is dial's way into the node's network namespace on kernels
// whose setns does not take a pidfd.
func socketViaProc(pid, pidfd int) (int, error) {
	nsfd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, ErrNotRunning
	}
	defer unix.Close(nsfd)
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return -1, ErrNotRunning
	}
	return netns.Socket(nsfd, unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
}
