package capture

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// packetSocketIn creates an AF_PACKET socket inside the network namespace at path ("" for the
// caller's own). It is the one place where capture switches namespaces: only socket(2) needs
// to run inside, since everything done later with the socket (interface lookup, bind, reading)
// happens in the namespace the socket belongs to, from any thread.
//
// The switch runs on a goroutine of its own, locked to its OS thread: if switching back fails,
// the goroutine exits still locked, so the runtime ends that thread instead of handing a thread
// in the wrong namespace to other goroutines. No goroutine is started while switched.
//
// The socket has protocol 0, so it receives nothing until it is bound: the caller attaches the
// filter first. The caller closes the returned descriptor.
func packetSocketIn(path string) (int, error) {
	if path == "" {
		return newPacketSocket()
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(target)

	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := switchedSocket(target)
		if err != errStuck {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		return -1, fmt.Errorf("packet socket in %s: %w", path, r.err)
	}
	return r.fd, nil
}

var errStuck = errors.New("cannot switch the thread back to its network namespace")

// switchedSocket runs on a locked thread: enter target, create the socket, return. It returns
// errStuck (closing the socket) when the thread could not return to its own namespace.
func switchedSocket(target int) (int, error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("setns: %w", err)
	}
	fd, serr := newPacketSocket()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return -1, errStuck
	}
	return fd, serr
}

func newPacketSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	return fd, nil
}
