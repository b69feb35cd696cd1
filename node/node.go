// Package node runs the namespaced nodes of a lab.
//
// A node is one init process: PID 1 of a new PID namespace, holding new
// network, UTS, IPC and mount namespaces. It prepares the node's view of the
// system (private mounts, fresh /proc and /sys, private /tmp and /run, its own
// /etc/hosts and /etc/hostname, bind mounts, sysctls), reports ready, and then
// serves one unix socket: every command run in the node (topo exec, the lab's
// exec lines) is started by the init itself, so it inherits every namespace of
// the node without any setns from a multi-threaded Go process. Killing the
// init ends every process of the node and, with its network namespace, every
// interface of the node.
//
// The init is the topo binary itself, re-executed: programs that start nodes
// must call MaybeRunInit first thing in main (and in TestMain).
package node

// Config is everything a node's init needs. topo writes it as JSON next to
// the node's socket before starting the init.
type Config struct {
	// Lab and Name identify the node; Name is also its hostname.
	Lab  string `json:"lab"`
	Name string `json:"name"`
	// HostsFile is copied to be the node's own /etc/hosts (one file for the
	// whole lab, so that a large lab does not write it once per node).
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
