// Package netns makes sockets inside other network namespaces, the one
// thing topo switches a thread's network namespace for: only socket(2) must
// run inside, since everything done later with the socket (bind, connect,
// interface lookup, reading) happens in the namespace the socket belongs
// to, from any thread.
package netns

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrStuck says a thread could not switch back to its own namespace (it is
// retired; nothing else runs on it).
var ErrStuck = errors.New("cannot switch the thread back to its network namespace")

// Socket calls socket(domain, typ|SOCK_CLOEXEC, proto) inside the network
// namespace of target: a namespace descriptor or a pidfd (setns takes
// either). The switch runs on a goroutine of its own, locked to its OS
// thread: if switching back fails, the goroutine ends still locked, so the
// runtime ends that thread instead of handing a thread in the wrong
// namespace to other goroutines. The caller closes the descriptor.
func Socket(target, domain, typ, proto int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := switched(target, domain, typ, proto)
		if err != ErrStuck {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// switched runs on a locked thread: enter target, make the socket, return.
func switched(target, domain, typ, proto int) (int, error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("setns: %w", err)
	}
	fd, serr := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return -1, ErrStuck
	}
	if serr != nil {
		return -1, fmt.Errorf("socket: %w", serr)
	}
	return fd, nil
}
