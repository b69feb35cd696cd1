package main

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Both ip netns del and topo down leave the kernel to destroy the network
// namespaces afterwards, in a worker. To time a teardown until the kernel
// is done, each namespace of the measured lab gets an id in the host's
// namespace (RTM_NEWNSID) before the teardown; the kernel announces the
// namespace's destruction by deleting that id (RTM_DELNSID), which a
// watcher counts.

// nextNSID hands out ids no earlier run's straggler still holds.
var nextNSID = 100000

func takeNSIDs(n int) int {
	first := nextNSID
	nextNSID += n
	return first
}

// nsidWatch counts RTM_DELNSID announcements in the host's namespace.
type nsidWatch struct {
	s *nl.NetlinkSocket
}

func watchNSIDs() (*nsidWatch, error) {
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_NSID)
	if err != nil {
		return nil, fmt.Errorf("subscribe to namespace ids: %w", err)
	}
	return &nsidWatch{s: s}, nil
}

// wait returns once ids in [first, first+n) have all been deleted, or
// after timeout with an error.
func (w *nsidWatch) wait(first, n int, timeout time.Duration) error {
	defer w.s.Close()
	deadline := time.Now().Add(timeout)
	gone := map[int32]bool{}
	for len(gone) < n {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%d of %d namespaces destroyed after %v", len(gone), n, timeout)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := w.s.SetReceiveTimeout(&tv); err != nil {
			return err
		}
		msgs, _, err := w.s.Receive()
		if err != nil {
			if err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR {
				continue
			}
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_DELNSID {
				continue
			}
			id, ok := nsidOf(m.Data)
			if ok && int(id) >= first && int(id) < first+n {
				gone[id] = true
			}
		}
	}
	return nil
}

// nsidOf reads NETNSA_NSID from an RTM_*NSID message (rtgenmsg, then
// attributes).
func nsidOf(b []byte) (int32, bool) {
	const hdr = 4 // struct rtgenmsg, padded
	if len(b) < hdr {
		return 0, false
	}
	attrs, err := nl.ParseRouteAttr(b[hdr:])
	if err != nil {
		return 0, false
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.NETNSA_NSID && len(a.Value) >= 4 {
			return int32(nl.NativeEndian().Uint32(a.Value)), true
		}
	}
	return 0, false
}

// nameNSIDs gives the network namespaces of the given processes the ids
// first, first+1, ... in the host's namespace.
func nameNSIDs(pids []int, first int) error {
	for i, pid := range pids {
		if err := netlink.SetNetNsIdByPid(pid, first+i); err != nil {
			return fmt.Errorf("namespace id for pid %d: %w", pid, err)
		}
	}
	return nil
}
