package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sunPathMax is the room in sockaddr_un for a path (108 with the NUL).
const sunPathMax = 107

// shortPath makes a socket path that fits sockaddr_un: a long one is reached
// through an O_PATH descriptor of its folder. The caller closes dir (nil when
// the path was short enough) once the socket is bound or connected.
func shortPath(path string) (string, *os.File, error) {
	if len(path) <= sunPathMax {
		return path, nil, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open socket folder: %w", err)
	}
	dir := os.NewFile(uintptr(fd), filepath.Dir(path))
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path)), dir, nil
}

func listenSeqpacket(path string) (*net.UnixListener, error) {
	p, dir, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	if dir != nil {
		defer dir.Close()
	}
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: p, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

func dialSeqpacket(path string) (*net.UnixConn, error) {
	p, dir, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	if dir != nil {
		defer dir.Close()
	}
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: p, Net: "unixpacket"})
}
