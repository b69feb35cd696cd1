//go:build cgo

package topo

// The plain "topo down [LAB]" of a lab that came all the way up is served
// by C before the Go runtime starts (down_fast.c). Importing "C" here
// links it into every program that imports package topo; it acts only on
// a command line that begins "down".

// #cgo CFLAGS: -Wall -Wextra
// #include "state.h"
import "C"

// The C side's names are state.go's: a duplicate map key fails the build
// when they differ.
var (
	_ = map[bool]int{false: 0, DefaultStateDir == C.TOPO_DEFAULT_STATE_DIR: 1}
	_ = map[bool]int{false: 0, labInitFile == C.TOPO_LABINIT_FILE: 1}
	_ = map[bool]int{false: 0, lockFile == C.TOPO_LOCK_FILE: 1}
	_ = map[bool]int{false: 0, schedFolder == C.TOPO_SCHED_DIR: 1}
	_ = map[bool]int{false: 0, maxNameLen == C.TOPO_MAX_NAME: 1}
)
