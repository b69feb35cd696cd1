//go:build cgo

package capture

/*
#include <stdlib.h>
#include <pcap/pcap.h>

static int topo_pcap_compile(int dlt, int snaplen, const char *expr, struct bpf_program *prog, char *errbuf, size_t errlen) {
	pcap_t *p = pcap_open_dead(dlt, snaplen);
	if (p == NULL) {
		snprintf(errbuf, errlen, "pcap_open_dead failed");
		return -1;
	}
	int rc = pcap_compile(p, prog, expr, 1, PCAP_NETMASK_UNKNOWN);
	if (rc < 0) {
		snprintf(errbuf, errlen, "%s", pcap_geterr(p));
	}
	pcap_close(p);
	return rc;
}
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"

	"golang.org/x/net/bpf"
)

// pcapMu serialises pcap_compile: libpcap documents it as thread-safe only from 1.8 on, and a
// mutex costs nothing next to compiling once per capture.
var pcapMu sync.Mutex

// pcapCompile runs libpcap's compiler on a dead handle, so it needs no device, no privileges and
// no namespace.
func pcapCompile(expr string, dlt, snaplen int) ([]bpf.RawInstruction, error) {
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))
	var errbuf [C.PCAP_ERRBUF_SIZE + 64]C.char
	var prog C.struct_bpf_program

	pcapMu.Lock()
	rc := C.topo_pcap_compile(C.int(dlt), C.int(snaplen), cexpr, &prog, &errbuf[0], C.size_t(len(errbuf)))
	pcapMu.Unlock()
	if rc < 0 {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	defer C.pcap_freecode(&prog)

	insns := unsafe.Slice(prog.bf_insns, int(prog.bf_len))
	out := make([]bpf.RawInstruction, len(insns))
	for i, in := range insns {
		out[i] = bpf.RawInstruction{Op: uint16(in.code), Jt: uint8(in.jt), Jf: uint8(in.jf), K: uint32(in.k)}
	}
	return out, nil
}
