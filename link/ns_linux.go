package link

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is an open network namespace with netlink sockets bound to it. It is
// safe for concurrent use. Close it: an open NS keeps the namespace alive.
type NS struct {
	fd    netns.NsHandle
	h     *netlink.Handle
	socks map[int]*nl.SocketHandle
}

// OpenNS opens the network namespace at path (such as /proc/PID/ns/net).
func OpenNS(path string) (*NS, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	n := &NS{fd: fd}
	n.h, err = netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	s, err := nl.GetNetlinkSocketAt(fd, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		n.h.Close()
		fd.Close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	n.socks = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	return n, nil
}

// Close releases the sockets and the namespace descriptor.
func (n *NS) Close() error {
	if n == nil || n.h == nil {
		return nil
	}
	n.h.Close()
	for _, s := range n.socks {
		s.Close()
	}
	err := n.fd.Close()
	n.h = nil
	return err
}

// Handle is the netlink handle bound to the namespace.
func (n *NS) Handle() *netlink.Handle { return n.h }

// request makes a netlink request that is sent on this namespace's socket.
func (n *NS) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = n.socks
	return req
}

// RetryDump runs a netlink dump again while the kernel says it was
// interrupted by a concurrent change.
func RetryDump[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for range 10 {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
