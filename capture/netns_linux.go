package capture

import (
	"fmt"

	"github.com/topo-lab/topo/internal/netns"
	"golang.org/x/sys/unix"
)

// packetSocketIn creates an AF_PACKET socket inside the network namespace at path ("" for the
// caller's own). It is the one place where capture switches namespaces: only socket(2) needs
// to run inside, since everything done later with the socket (interface lookup, bind, reading)
// happens in the namespace the socket belongs to, from any thread.
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
	fd, err := netns.Socket(target, unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return -1, fmt.Errorf("packet socket in %s: %w", path, err)
	}
	return fd, nil
}

func newPacketSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	return fd, nil
}
