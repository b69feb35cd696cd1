// Package node runs the namespaced nodes of a lab.
//
// A node is one init process: PID 1 of a new PID namespace, holding new
// network, UTS, IPC, mount and cgroup namespaces (and, on request, a user
// and a time namespace). It prepares the node's view of the system (private
// mounts, fresh /proc and /sys, private /tmp and /run, its own /etc/hosts and
// /etc/hostname, bind mounts, sysctls; or an overlay root filesystem it
// pivots into), reports ready, and then serves one unix socket: every
// command run in the node (topo exec, the lab's exec lines) is started by the
// init itself, so it is born inside every namespace of the node without any
// setns from a multi-threaded Go process. Killing the init ends every process
// of the node and, with its network namespace, every interface of the node.
//
// The init is the topo binary itself, re-executed, but none of its Go: a C
// constructor (init.c) takes over before the Go runtime starts, so that an
// idle node is one small single-threaded process rather than a Go runtime
// (a thousand-node lab pays for a thousand of them). Programs that start
// nodes are therefore built with cgo, and call MaybeRunInit first thing in
// main (and in TestMain). The init gets everything it needs from the host
// as open descriptors, so that it never has to reach into the host's state
// folder (which a node with a user namespace could not).
package node

import "time"

// Config is everything a node's init needs.
type Config struct {
	// Lab and Name identify the node; Name is also its hostname.
	Lab  string `json:"lab"`
	Name string `json:"name"`
	// HostsFile is copied to be the node's own /etc/hosts.
	HostsFile string `json:"hosts_file,omitempty"`
	// Mounts are bind mounts, applied after the private /tmp and /run so
	// that they may target paths inside them.
	Mounts []Mount `json:"mounts,omitempty"`
	// Sysctls are written under /proc/sys inside the node, in order, after
	// the ones implied by Forward and NoIPv6.
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Env is KEY=VALUE pairs added to every command run in the node.
	Env []string `json:"env,omitempty"`
	// Forward turns on IPv4 and IPv6 forwarding (routers).
	Forward bool `json:"forward,omitempty"`
	// NoIPv6 turns IPv6 off in the node before any interface exists, so
	// that labs which do not use it do not pay for its link-local chatter.
	NoIPv6 bool `json:"noipv6,omitempty"`
	// Image is a root filesystem folder: the node gets an overlay of it
	// (its writes go to a layer of its own, removed with the node) and
	// pivots into it. Empty: the node sees the host's files.
	Image string `json:"image,omitempty"`
	// UserNS gives the node a user namespace in which its root is the
	// unprivileged host uid and gid UserNSBase (and the 65535 after it).
	UserNS bool `json:"userns,omitempty"`
	// ClockOffset moves the node's monotonic and boot-time clocks forward
	// (a node that has been up for 30 days), through a time namespace.
	ClockOffset time.Duration `json:"clock_offset,omitempty"`
}

// Mount is a bind mount from the host into a node.
type Mount struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	ReadOnly bool   `json:"ro,omitempty"`
}

// Sysctl is one /proc/sys setting, key in dotted form.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// UserNSBase and UserNSSize are the host uid and gid range that the root
// of a node with a user namespace maps to (as rootless containers use).
const (
	UserNSBase = 1_000_000_000
	UserNSSize = 65536
)
