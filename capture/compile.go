package capture

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is the snapshot length used when Options.Snaplen is 0: tcpdump's default, large
// enough for the 64 KiB super-packets that veths hand over with offloads on.
const DefaultSnaplen = 262144

// ErrNoFilterCompiler is returned by Compile for a non-empty expression in a build without cgo
// and libpcap.
var ErrNoFilterCompiler = errors.New("filter expressions need libpcap: this topo was built without cgo")

// Compile compiles a tcpdump filter expression (pcap-filter(7)) for packets of the given link
// type, truncated to snaplen bytes, into classic BPF ready for SO_ATTACH_FILTER. The program's
// accept value is snaplen, so attaching it also enforces the snapshot length in the kernel. The
// empty expression accepts every packet. An expression libpcap cannot compile is a
// *FilterError that quotes libpcap's reason: callers must never fall back to an unfiltered
// capture.
//
// It needs no privileges and touches no namespace. Only LinkTypeEthernet (every veth, bridge
// and loopback of a lab) and LinkTypeRaw (interfaces without a link-layer header) are supported.
func Compile(expr string, linkType layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	var dlt int
	switch linkType {
	case layers.LinkTypeEthernet:
		dlt = 1 // DLT_EN10MB
	case layers.LinkTypeRaw:
		dlt = 12 // DLT_RAW on Linux; LINKTYPE_RAW (101) in files
	default:
		return nil, fmt.Errorf("compile filter: unsupported link type %d", linkType)
	}
	if expr == "" {
		return []bpf.RawInstruction{{Op: 0x06 /* BPF_RET|BPF_K */, K: uint32(snaplen)}}, nil
	}
	prog, err := pcapCompile(expr, dlt, snaplen)
	if err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	if len(prog) == 0 {
		return nil, &FilterError{Expr: expr, Err: errors.New("libpcap returned an empty program")}
	}
	return prog, nil
}

// FilterError is the error for a filter expression that cannot be compiled; callers tell it
// apart to treat it as bad usage.
type FilterError struct {
	Expr string
	Err  error // libpcap's reason, or ErrNoFilterCompiler
}

func (e *FilterError) Error() string { return fmt.Sprintf("filter %q: %v", e.Expr, e.Err) }
func (e *FilterError) Unwrap() error { return e.Err }
