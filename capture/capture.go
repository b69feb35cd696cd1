// Package capture captures packets from interfaces inside network namespaces, the way tcpdump
// would if it ran inside each node, and writes them as text, pcap or pcapng.
//
// Each source gets an AF_PACKET socket created inside its namespace (the only step that needs
// the namespace: a socket stays bound to the namespace it was created in) with a TPACKET_V3
// receive ring mapped into topo's memory. The filter is compiled by libpcap and attached in the
// kernel before the socket is bound, so packets it rejects are never copied and no packet slips
// through unfiltered. Packets are written straight from the ring, with no copy and no allocation
// per packet; packets of several sources are merged in timestamp order.
package capture

import (
	"errors"
	"fmt"
	"time"
)

// Source is one interface to capture from.
type Source struct {
	// Name is how the interface appears in text output and in pcapng interface blocks,
	// conventionally "node:iface". Empty means Iface.
	Name string
	// NetNS is the path of a network namespace file, such as /proc/PID/ns/net or a bind mount of
	// one. Empty means the caller's own network namespace.
	NetNS string
	// Iface is the interface name inside that namespace.
	Iface string
}

func (s Source) name() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Iface
}

// Format is an output format.
type Format int

// Output formats.
const (
	// Text writes one line per packet, like tcpdump's summary.
	Text Format = iota
	// PCAP writes a libpcap file with nanosecond timestamps; it holds one interface only.
	PCAP
	// PCAPNG writes a pcapng section with one interface description block per source, named
	// after Source.Name, and interface statistics (captured, dropped) at the end.
	PCAPNG
)

// String returns the name of f as the CLI spells it.
func (f Format) String() string {
	switch f {
	case Text:
		return "text"
	case PCAP:
		return "pcap"
	case PCAPNG:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the Format named s ("text", "pcap" or "pcapng").
func ParseFormat(s string) (Format, error) {
	for _, f := range []Format{Text, PCAP, PCAPNG} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown capture format %q (want text, pcap or pcapng)", s)
}

// Options says what to capture and how to write it. The zero value captures every packet in full
// as text until the context ends.
type Options struct {
	// Filter is a tcpdump expression (pcap-filter(7)); "" captures everything.
	Filter string
	// Count stops the capture after this many packets in total (0: no limit).
	Count int
	// Duration stops the capture after this long (0: no limit).
	Duration time.Duration
	// Snaplen is the number of bytes kept of each packet (0: DefaultSnaplen).
	Snaplen int
	// Format is the output format.
	Format Format
	// BufferSize is the size in bytes of each source's kernel ring (0: a default that shrinks
	// as sources are added). Packets arriving while the ring is full are dropped by the kernel
	// and counted in Stats.Dropped.
	BufferSize int
	// Ready, if set, is called once every source's socket is bound, before the first packet
	// is read: packets sent after it returns are captured.
	Ready func()
}

// Stats counts what a capture saw.
type Stats struct {
	// Captured is the number of packets written.
	Captured uint64
	// Received is the number of packets that passed the filter, as the kernel counts them,
	// including those it dropped and those left unread when the capture stopped.
	Received uint64
	// Dropped is the number of packets that passed the filter but that the kernel dropped
	// because the ring was full.
	Dropped uint64
}

// ErrNoSources is returned by Run when it is given no source.
var ErrNoSources = errors.New("capture: no source to capture from")

func (o *Options) validate(nsrc int) error {
	if nsrc == 0 {
		return ErrNoSources
	}
	switch o.Format {
	case Text, PCAPNG:
	case PCAP:
		if nsrc > 1 {
			return fmt.Errorf("capture: %d interfaces need pcapng (a pcap file holds one interface)", nsrc)
		}
	default:
		return fmt.Errorf("capture: unknown format %d", int(o.Format))
	}
	if o.Count < 0 || o.Duration < 0 || o.Snaplen < 0 || o.BufferSize < 0 {
		return errors.New("capture: count, duration, snaplen and buffer size must not be negative")
	}
	if o.Snaplen == 0 {
		o.Snaplen = DefaultSnaplen
	}
	return nil
}
