package capture

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// Frames built with gopacket for the unprivileged tests.

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = net.IP{192, 0, 2, 1}
	ipB  = net.IP{192, 0, 2, 2}
	ip6A = net.ParseIP("2001:db8::1")
	ip6B = net.ParseIP("2001:db8::2")
)

func frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, n := range ls {
				if ip, ok := n.(gopacket.NetworkLayer); ok {
					c.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: ipA, DstIP: ipB}
}

func ip6(next layers.IPProtocol, dst net.IP) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: next, SrcIP: ip6A, DstIP: dst}
}

func icmpEcho(t testing.TB) []byte {
	return frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1},
		gopacket.Payload(make([]byte, 56)))
}

func arpRequest(t testing.TB) []byte {
	return frame(t, eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ipA,
		DstHwAddress: make([]byte, 6), DstProtAddress: ipB,
	})
}

func TestCompile(t *testing.T) {
	run := func(prog []bpf.RawInstruction, pkt []byte) int {
		t.Helper()
		insns, ok := bpf.Disassemble(prog)
		if !ok {
			t.Fatalf("program has instructions the VM does not know: %v", prog)
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	icmp, arp := icmpEcho(t), arpRequest(t)
	bgp := frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 179, SYN: true})
	for _, tc := range []struct {
		expr   string
		accept [][]byte
		reject [][]byte
	}{
		{"", [][]byte{icmp, arp, bgp}, nil},
		{"icmp", [][]byte{icmp}, [][]byte{arp, bgp}},
		{"arp", [][]byte{arp}, [][]byte{icmp, bgp}},
		{"tcp port 179 and host 192.0.2.2", [][]byte{bgp}, [][]byte{icmp, arp}},
		{"not arp", [][]byte{icmp, bgp}, [][]byte{arp}},
	} {
		prog, err := Compile(tc.expr, layers.LinkTypeEthernet, 0)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.expr, err)
		}
		for _, p := range tc.accept {
			if n := run(prog, p); n < len(p) {
				t.Errorf("%q kept %d of %d bytes, want all", tc.expr, n, len(p))
			}
		}
		for _, p := range tc.reject {
			if n := run(prog, p); n != 0 {
				t.Errorf("%q kept a packet it should drop", tc.expr)
			}
		}
	}

	// The accept value is the snapshot length, so the kernel truncates.
	prog, err := Compile("icmp", layers.LinkTypeEthernet, 64)
	if err != nil {
		t.Fatal(err)
	}
	if n := run(prog, icmp); n != 64 {
		t.Errorf("snaplen 64 kept %d bytes", n)
	}

	// Raw IP interfaces have no Ethernet header.
	prog, err = Compile("icmp", layers.LinkTypeRaw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := run(prog, icmp[14:]); n == 0 {
		t.Error("icmp on a raw link dropped an ICMP packet")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{"icmp and port", "tcp port 99999", "bogus", "ip proto nosuch"} {
		_, err := Compile(expr, layers.LinkTypeEthernet, 0)
		if err == nil {
			t.Errorf("Compile(%q) accepted it", expr)
			continue
		}
		var fe *FilterError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), expr) {
			t.Errorf("Compile(%q): %v: want a *FilterError quoting the expression", expr, err)
		}
	}
	if _, err := Compile("icmp", layers.LinkTypeIEEE802_11, 0); err == nil {
		t.Error("Compile accepted an unsupported link type")
	}
}

// writeAll runs an output over packets from two interfaces and returns what it wrote.
func writeAll(t testing.TB, f Format, ifs []iface, pkts []packet, srcOf []int) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	o := newOutput(f)
	if err := o.begin(bw, ifs); err != nil {
		t.Fatal(err)
	}
	for i := range pkts {
		if err := o.packet(srcOf[i], &pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	st := make([]ifaceStats, len(ifs))
	for i := range st {
		st[i] = ifaceStats{start: 1, end: 2, captured: 3, received: 5, dropped: 2}
	}
	if err := o.end(st); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBack reads the packets back from a pcap or pcapng reader and checks
// their bytes, timestamps and lengths.
func readBack(t *testing.T, r gopacket.PacketDataSource, pkts []packet) {
	t.Helper()
	for i, p := range pkts {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(d, p.data) || ci.Timestamp.UnixNano() != p.ts || ci.Length != int(p.length) {
			t.Errorf("packet %d: read %d bytes at %v of length %d", i, len(d), ci.Timestamp, ci.Length)
		}
	}
}

func TestPCAPFormats(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC).UnixNano()
	odd := icmpEcho(t)[:61] // a length that needs padding in pcapng
	pkts := []packet{
		{ts: ts, data: icmpEcho(t), length: 98, pkttype: pktOutgoing},
		{ts: ts + 1, data: odd, length: 98, pkttype: pktHost},
		{ts: ts + 2, data: arpRequest(t), length: 60, pkttype: pktBroadcast},
	}
	ifs := []iface{{"h1:eth0", layers.LinkTypeEthernet, 262144}, {"r1:eth1", layers.LinkTypeEthernet, 262144}}

	t.Run("pcap", func(t *testing.T) {
		data := writeAll(t, PCAP, ifs[:1], pkts, []int{0, 0, 0})
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if r.LinkType() != layers.LinkTypeEthernet {
			t.Errorf("link type %v", r.LinkType())
		}
		readBack(t, r, pkts)
	})

	t.Run("pcapng", func(t *testing.T) {
		data := writeAll(t, PCAPNG, ifs, pkts, []int{0, 1, 0})
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		readBack(t, r, pkts)
		if r.NInterfaces() != 2 {
			t.Fatalf("%d interfaces, want 2", r.NInterfaces())
		}
		for i, f := range ifs {
			in, _ := r.Interface(i)
			if in.Name != f.name {
				t.Errorf("interface %d named %q, want %q", i, in.Name, f.name)
			}
		}
		if _, err := exec.LookPath("tshark"); err == nil {
			got := tshark(t, data, "", "frame.interface_name", "frame.packet_flags_direction", "frame.cap_len")
			want := []string{"h1:eth0|0x00000002|98", "r1:eth1|0x00000001|61", "h1:eth0|0x00000001|60"}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("tshark read %q, want %q", got, want)
			}
			wellFormed(t, data)
		}
	})
}

func TestWritersDoNotAllocate(t *testing.T) {
	pkt := packet{ts: time.Now().UnixNano(), data: icmpEcho(t), length: 98, pkttype: pktOutgoing}
	ifs := []iface{{"h1:eth0", layers.LinkTypeEthernet, 262144}}
	for _, f := range []Format{PCAP, PCAPNG, Text} {
		bw := bufio.NewWriterSize(discard{}, 1<<16)
		o := newOutput(f)
		if err := o.begin(bw, ifs); err != nil {
			t.Fatal(err)
		}
		o.packet(0, &pkt) // warm up buffers
		if n := testing.AllocsPerRun(1000, func() { o.packet(0, &pkt) }); n != 0 {
			t.Errorf("%v: %v allocations per packet", f, n)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func textLine(t testing.TB, lt layers.LinkType, pkttype uint8, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	o := newTextOutput()
	o.begin(bw, []iface{{"r1:eth0", lt, 262144}})
	if err := o.packet(0, &packet{ts: time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.Local).UnixNano(), data: data, length: uint32(len(data)), pkttype: pkttype}); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestTextLines(t *testing.T) {
	bgpOpen := append(bytes.Repeat([]byte{0xff}, 16), 0, 29, 1, 4, 0xfd, 0xe8, 0, 180, 10, 0, 0, 1, 0)
	keepalive := append(bytes.Repeat([]byte{0xff}, 16), 0, 19, 4)
	dnsQ := &layers.DNS{ID: 4660, RD: true, QDCount: 1,
		Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	dnsR := &layers.DNS{ID: 4660, QR: true, RD: true, RA: true, QDCount: 1, ANCount: 1,
		Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: ipB}}}
	dhcp := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: 0x3903f326, ClientHWAddr: macA, Options: []layers.DHCPOption{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{1})}}
	rip := []byte{2, 2, 0, 0}
	for i := 0; i < 3; i++ {
		rip = append(rip, make([]byte, 20)...)
	}
	ospfHello := append([]byte{2, 1, 0, 44, 1, 1, 1, 1, 0, 0, 0, 0}, make([]byte, 32)...)
	inner := frame(t, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 40000, DstPort: 33434})
	ns := frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6, net.ParseIP("ff02::1:ff00:2")),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)},
		&layers.ICMPv6NeighborSolicitation{TargetAddress: ip6B})
	na := frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6, ip6B),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
		&layers.ICMPv6NeighborAdvertisement{TargetAddress: ip6A, Flags: 0x60})
	vlanARP := frame(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: macB, SourceProtAddress: ipB, DstHwAddress: macA, DstProtAddress: ipA})
	synAck := frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 179, DstPort: 40000, SYN: true, ACK: true, Seq: 1000, Ack: 2001, Window: 64240})
	hbh := []byte{58, 0, 5, 2, 0, 0, 1, 0} // hop-by-hop with router alert, then ICMPv6
	mld := append(hbh, 143, 0, 0, 0, 0, 0, 0, 1)
	mld = append(mld, make([]byte, 20)...)
	mldFrame := frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop, net.ParseIP("ff02::16")), gopacket.Payload(mld))

	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		dir  uint8
		data []byte
		want string
	}{
		{"icmp", layers.LinkTypeEthernet, pktOutgoing, icmpEcho(t),
			"Out IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 7, seq 1, length 64"},
		{"arp", layers.LinkTypeEthernet, pktBroadcast, arpRequest(t),
			"B ARP, Request who-has 192.0.2.2 tell 192.0.2.1, length 28"},
		{"vlan arp reply", layers.LinkTypeEthernet, pktHost, vlanARP,
			"In vlan 10, ARP, Reply 192.0.2.2 is-at 02:00:00:00:00:0b, length 28"},
		{"raw ip", layers.LinkTypeRaw, pktHost, icmpEcho(t)[14:],
			"In IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 7, seq 1, length 64"},
		{"bgp open", layers.LinkTypeEthernet, pktHost, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 40000, DstPort: 179, PSH: true, ACK: true, Seq: 1, Ack: 2, Window: 502}, gopacket.Payload(append(bgpOpen, keepalive...))),
			"In IP 192.0.2.1.40000 > 192.0.2.2.179: Flags [P.], seq 1:49, ack 2, win 502, length 48: BGP Open,Keepalive"},
		{"tcp syn-ack", layers.LinkTypeEthernet, pktHost, synAck,
			"In IP 192.0.2.1.179 > 192.0.2.2.40000: Flags [S.], seq 1000, ack 2001, win 64240, length 0"},
		{"dns query", layers.LinkTypeEthernet, pktHost, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5000, DstPort: 53}, dnsQ),
			"In IP 192.0.2.1.5000 > 192.0.2.2.53: DNS 4660+ A? example.com., length 29"},
		{"dns response", layers.LinkTypeEthernet, pktHost, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 53, DstPort: 5000}, dnsR),
			"In IP 192.0.2.1.53 > 192.0.2.2.5000: DNS 4660 1/0/0 A 192.0.2.2, length 56"},
		{"dhcp discover", layers.LinkTypeEthernet, pktBroadcast, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 68, DstPort: 67}, dhcp),
			`B IP 192.0.2.1.68 > 192.0.2.2.67: DHCP Discover, xid 0x3903f326, from 02:00:00:00:00:0a, length \d+`},
		{"rip", layers.LinkTypeEthernet, pktMulticast, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 520, DstPort: 520}, gopacket.Payload(rip)),
			"M IP 192.0.2.1.520 > 192.0.2.2.520: RIPv2, Response, length 64, routes: 3"},
		{"ospf", layers.LinkTypeEthernet, pktMulticast, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolOSPF), gopacket.Payload(ospfHello)),
			"M IP 192.0.2.1 > 192.0.2.2: OSPFv2, Hello, router 1.1.1.1, length 44"},
		{"port unreachable", layers.LinkTypeEthernet, pktHost, frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)}, gopacket.Payload(inner)),
			"In IP 192.0.2.1 > 192.0.2.2: ICMP 192.0.2.2 udp port 33434 unreachable, length 36"},
		{"neighbor solicitation", layers.LinkTypeEthernet, pktMulticast, ns,
			"M IP6 2001:db8::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has 2001:db8::2, length 24"},
		{"neighbor advertisement", layers.LinkTypeEthernet, pktHost, na,
			"In IP6 2001:db8::1 > 2001:db8::2: ICMP6, neighbor advertisement, tgt is 2001:db8::1, length 24"},
		{"mld report behind hop-by-hop", layers.LinkTypeEthernet, pktOutgoing, mldFrame,
			"Out IP6 2001:db8::1 > ff02::16: ICMP6, multicast listener report v2, 1 group record(s), length 28"},
		{"lldp", layers.LinkTypeEthernet, pktMulticast, frame(t, eth(layers.EthernetTypeLinkLayerDiscovery), gopacket.Payload(make([]byte, 46))),
			"M LLDP, length 46"},
		{"truncated ip", layers.LinkTypeEthernet, pktHost, icmpEcho(t)[:20], `In IP \[\|ip\], length 6`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := textLine(t, tc.lt, tc.dir, tc.data)
			want := regexp.MustCompile(`^03:04:05\.678901 r1:eth0 ` + tc.want + `$`)
			if tc.name != "dhcp discover" && tc.name != "truncated ip" {
				want = regexp.MustCompile(`^03:04:05\.678901 r1:eth0 ` + regexp.QuoteMeta(tc.want) + `$`)
			}
			if !want.MatchString(got) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzText feeds arbitrary frames to the text output: it must never panic.
func FuzzText(f *testing.F) {
	f.Add(icmpEcho(f), uint8(0))
	f.Add(arpRequest(f), uint8(1))
	f.Add(icmpEcho(f)[14:], uint8(101))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, lt uint8) {
		linkType := layers.LinkTypeEthernet
		if lt > 100 {
			linkType = layers.LinkTypeRaw
		}
		// Call the decoders directly: packet would recover from their panics.
		o := newTextOutput()
		if linkType == layers.LinkTypeEthernet {
			o.ether(nil, data, uint32(len(data)))
		} else {
			o.rawIP(nil, data, uint32(len(data)))
		}
	})
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{Text, PCAP, PCAPNG} {
		if g, err := ParseFormat(f.String()); err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("ParseFormat accepted json")
	}
}
