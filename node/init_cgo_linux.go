//go:build cgo

package node

// A node's init is C (init.c): a constructor takes over before the Go
// runtime starts when topo is re-executed as one. Importing "C" here links
// it into every program that imports package node.

// #cgo CFLAGS: -Wall -Wextra
// #include "init.h"
import "C"

// haveInit says whether this program can start nodes.
const haveInit = true

// The Go side's descriptor numbers and bounds are init.h's: a difference
// fails the build (a negative constant does not convert to uint).
const (
	_ = uint(fdReady-C.TOPO_FD_READY) + uint(C.TOPO_FD_READY-fdReady)
	_ = uint(fdConfig-C.TOPO_FD_CONFIG) + uint(C.TOPO_FD_CONFIG-fdConfig)
	_ = uint(fdDir-C.TOPO_FD_DIR) + uint(C.TOPO_FD_DIR-fdDir)
	_ = uint(fdHosts-C.TOPO_FD_HOSTS) + uint(C.TOPO_FD_HOSTS-fdHosts)
	_ = uint(fdHostname-C.TOPO_FD_HOSTNAME) + uint(C.TOPO_FD_HOSTNAME-fdHostname)
	_ = uint(fdMounts-C.TOPO_FD_MOUNTS) + uint(C.TOPO_FD_MOUNTS-fdMounts)
	_ = uint(maxMsg-C.TOPO_MAX_MSG) + uint(C.TOPO_MAX_MSG-maxMsg)
	_ = uint(maxRecords-C.TOPO_MAX_RECORDS) + uint(C.TOPO_MAX_RECORDS-maxRecords)
)

// The socket name too: a duplicate map key fails the build when they differ.
var _ = map[bool]int{false: 0, sockName == C.TOPO_SOCK_NAME: 1}
