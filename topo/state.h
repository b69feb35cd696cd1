// What down_fast.c shares with state.go; down_cgo_linux.go checks that the
// two agree.
#ifndef TOPO_STATE_H
#define TOPO_STATE_H

#define TOPO_DEFAULT_STATE_DIR "/run/topo"
#define TOPO_LABINIT_FILE "labinit"
#define TOPO_LOCK_FILE "lock"
#define TOPO_SCHED_DIR "sched"
// TOPO_MAX_NAME is the longest lab name (a node's hostname limit).
#define TOPO_MAX_NAME 63

#endif
