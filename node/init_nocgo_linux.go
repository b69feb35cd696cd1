//go:build !cgo

package node

// haveInit says whether this program can start nodes: a node's init is C
// (init.c), which a build without cgo leaves out. Such a topo still
// parses, draws and checks labs.
const haveInit = false
