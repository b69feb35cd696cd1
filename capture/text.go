package capture

import (
	"bufio"
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// textOutput writes one line per packet in the manner of tcpdump's default output:
//
//	15:04:05.000000 h1:eth0 Out IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 7, seq 1, length 64
//
// Layers are decoded with gopacket's DecodingLayer implementations into structs reused from
// packet to packet, and the line is assembled in a reused buffer, so common packets cost no
// allocation. Protocols named by the summary but not decoded in full (OSPF, RIP, BGP, DHCP)
// are recognised from their first bytes.
type textOutput struct {
	w   *bufio.Writer
	ifs []iface

	line  []byte
	sec   int64  // second whose clock text is cached
	clock []byte // "15:04:05" for sec

	eth   layers.Ethernet
	dot1q layers.Dot1Q
	arp   layers.ARP
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
	dns   layers.DNS
}

func newTextOutput() *textOutput {
	return &textOutput{line: make([]byte, 0, 512), sec: -1}
}

func (o *textOutput) begin(w *bufio.Writer, ifs []iface) error {
	o.w, o.ifs = w, ifs
	return nil
}

func (o *textOutput) end([]ifaceStats) error { return nil }

func (o *textOutput) packet(src int, p *packet) error {
	b := o.appendTime(o.line[:0], p.ts)
	b = append(b, ' ')
	b = append(b, o.ifs[src].name...)
	b = append(b, ' ')
	b = append(b, direction(p.pkttype)...)
	b = append(b, ' ')
	b = o.decode(b, o.ifs[src].linkType, p)
	b = append(b, '\n')
	o.line = b
	_, err := o.w.Write(b)
	return err
}

// decode appends the summary of p's protocols. A decoder that panics on a malformed packet
// (gopacket's have, on hostile lengths) must not end the capture: the packet is then marked
// as undecodable.
func (o *textOutput) decode(b []byte, lt layers.LinkType, p *packet) (out []byte) {
	n := len(b)
	defer func() {
		if recover() != nil {
			out = appendLength(append(b[:n], "[|malformed]"...), int(p.length))
		}
	}()
	if lt == layers.LinkTypeEthernet {
		return o.ether(b, p.data, p.length)
	}
	return o.rawIP(b, p.data, p.length)
}

// direction abbreviates the packet type as tcpdump does with -i any.
func direction(pkttype uint8) string {
	switch pkttype {
	case pktOutgoing:
		return "Out"
	case pktBroadcast:
		return "B"
	case pktMulticast:
		return "M"
	case pktOtherHost:
		return "P"
	}
	return "In"
}

// appendTime appends local wall-clock time with microseconds, formatting the clock part once
// per second.
func (o *textOutput) appendTime(b []byte, ns int64) []byte {
	sec := ns / 1e9
	if sec != o.sec {
		o.sec = sec
		o.clock = time.Unix(sec, 0).AppendFormat(o.clock[:0], "15:04:05")
	}
	b = append(b, o.clock...)
	us := (ns % 1e9) / 1e3
	b = append(b, '.')
	for d := int64(100000); d > 0; d /= 10 {
		b = append(b, byte('0'+us/d%10))
	}
	return b
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

func appendLength(b []byte, n int) []byte {
	b = append(b, ", length "...)
	return appendUint(b, uint64(n))
}

func appendAddr(b []byte, ip []byte) []byte {
	switch len(ip) {
	case 4:
		return netip.AddrFrom4([4]byte(ip)).AppendTo(b)
	case 16:
		return netip.AddrFrom16([16]byte(ip)).AppendTo(b)
	}
	return append(b, '?')
}

func appendMAC(b []byte, mac []byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range mac {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return b
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, "0x"...)
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[(v>>(4*uint(i)))&15])
	}
	return b
}

func (o *textOutput) ether(b []byte, data []byte, wire uint32) []byte {
	df := gopacket.NilDecodeFeedback
	if err := o.eth.DecodeFromBytes(data, df); err != nil {
		b = append(b, "[|ether]"...)
		return appendLength(b, int(wire))
	}
	et, payload := o.eth.EthernetType, o.eth.Payload
	for et == layers.EthernetTypeDot1Q || et == layers.EthernetTypeQinQ {
		if err := o.dot1q.DecodeFromBytes(payload, df); err != nil {
			return append(b, "802.1Q [|vlan]"...)
		}
		b = append(b, "vlan "...)
		b = appendUint(b, uint64(o.dot1q.VLANIdentifier))
		b = append(b, ", "...)
		et, payload = o.dot1q.Type, o.dot1q.Payload
	}
	switch et {
	case layers.EthernetTypeIPv4:
		return o.ipv4(b, payload)
	case layers.EthernetTypeIPv6:
		return o.ipv6(b, payload)
	case layers.EthernetTypeARP:
		return o.arpLine(b, payload)
	case layers.EthernetTypeLLC:
		// An 802.3 frame with a length field; bridges send spanning tree this way.
		if len(payload) >= 3 && payload[0] == 0x42 && payload[1] == 0x42 {
			b = append(b, "STP 802.1d"...)
		} else {
			b = append(b, "802.3 LLC"...)
		}
		return appendLength(b, int(o.eth.Length))
	case layers.EthernetTypeLinkLayerDiscovery:
		b = append(b, "LLDP"...)
		return appendLength(b, len(payload))
	}
	b = append(b, "ethertype "...)
	if name := et.String(); name != "UnknownEthernetType" {
		b = append(b, name...)
		b = append(b, ' ')
	}
	b = append(b, '(')
	b = appendHex(b, uint64(et), 4)
	b = append(b, ')')
	return appendLength(b, int(wire)-14)
}

func (o *textOutput) rawIP(b []byte, data []byte, wire uint32) []byte {
	if len(data) > 0 {
		switch data[0] >> 4 {
		case 4:
			return o.ipv4(b, data)
		case 6:
			return o.ipv6(b, data)
		}
	}
	b = append(b, "raw packet"...)
	return appendLength(b, int(wire))
}

func (o *textOutput) arpLine(b []byte, data []byte) []byte {
	b = append(b, "ARP, "...)
	a := &o.arp
	// gopacket adds the address sizes up in a byte, which wraps (and then panics slicing) for
	// hostile sizes: check them first.
	if len(data) < 8 {
		return append(b, "[|arp]"...)
	}
	if n := 8 + 2*int(data[4]) + 2*int(data[5]); n > 255 || len(data) < n {
		return append(b, "[|arp]"...)
	}
	if err := a.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return append(b, "[|arp]"...)
	}
	switch a.Operation {
	case layers.ARPRequest:
		b = append(b, "Request who-has "...)
		b = appendAddr(b, a.DstProtAddress)
		b = append(b, " tell "...)
		b = appendAddr(b, a.SourceProtAddress)
	case layers.ARPReply:
		b = append(b, "Reply "...)
		b = appendAddr(b, a.SourceProtAddress)
		b = append(b, " is-at "...)
		b = appendMAC(b, a.SourceHwAddress)
	default:
		b = append(b, "op "...)
		b = appendUint(b, uint64(a.Operation))
	}
	return appendLength(b, len(a.Contents))
}

func (o *textOutput) ipv4(b []byte, data []byte) []byte {
	ip := &o.ip4
	if err := ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		b = append(b, "IP [|ip]"...)
		return appendLength(b, len(data))
	}
	b = append(b, "IP "...)
	plen := int(ip.Length) - int(ip.IHL)*4 // as sent, whatever the snapshot kept
	if ip.FragOffset != 0 {
		b = appendAddr(b, ip.SrcIP)
		b = append(b, " > "...)
		b = appendAddr(b, ip.DstIP)
		b = append(b, ": "...)
		b = appendProto(b, ip.Protocol)
		b = append(b, " (fragment offset "...)
		b = appendUint(b, uint64(ip.FragOffset)*8)
		b = append(b, ')')
		return appendLength(b, plen)
	}
	return o.l4(b, ip.SrcIP, ip.DstIP, ip.Protocol, ip.Payload, plen)
}

func (o *textOutput) ipv6(b []byte, data []byte) []byte {
	ip := &o.ip6
	if err := ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		b = append(b, "IP6 [|ip6]"...)
		return appendLength(b, len(data))
	}
	b = append(b, "IP6 "...)
	nh, payload := ip.NextHeader, ip.Payload
	plen := int(ip.Length)
	if ip.HopByHop != nil {
		nh = ip.HopByHop.NextHeader
		plen -= len(ip.HopByHop.Contents)
	}
	// Skip extension headers to reach the upper layer.
	for {
		var hlen int
		switch nh {
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
			if len(payload) < 2 {
				return append(b, "[|ip6]"...)
			}
			hlen = (int(payload[1]) + 1) * 8
		case layers.IPProtocolIPv6Fragment:
			if len(payload) < 8 {
				return append(b, "[|ip6]"...)
			}
			if off := binary.BigEndian.Uint16(payload[2:4]) >> 3; off != 0 {
				b = appendAddr(b, ip.SrcIP)
				b = append(b, " > "...)
				b = appendAddr(b, ip.DstIP)
				b = append(b, ": "...)
				b = appendProto(b, layers.IPProtocol(payload[0]))
				b = append(b, " (fragment offset "...)
				b = appendUint(b, uint64(off)*8)
				b = append(b, ')')
				return appendLength(b, plen-8)
			}
			hlen = 8
		default:
			return o.l4(b, ip.SrcIP, ip.DstIP, nh, payload, plen)
		}
		if len(payload) < hlen {
			return append(b, "[|ip6]"...)
		}
		nh = layers.IPProtocol(payload[0])
		payload = payload[hlen:]
		plen -= hlen
	}
}

func appendProto(b []byte, p layers.IPProtocol) []byte {
	switch p {
	case layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4, layers.IPProtocolICMPv6,
		layers.IPProtocolIGMP, layers.IPProtocolGRE, layers.IPProtocolESP, layers.IPProtocolAH,
		layers.IPProtocolSCTP, layers.IPProtocolVRRP:
		return append(b, p.String()...)
	case layers.IPProtocolOSPF:
		return append(b, "OSPF"...)
	}
	b = append(b, "ip-proto-"...)
	return appendUint(b, uint64(p))
}

// l4 appends "src > dst: upper-layer summary"; for TCP and UDP the ports follow the addresses.
// plen is the upper layer's length as sent.
func (o *textOutput) l4(b []byte, src, dst []byte, proto layers.IPProtocol, payload []byte, plen int) []byte {
	df := gopacket.NilDecodeFeedback
	switch proto {
	case layers.IPProtocolTCP:
		t := &o.tcp
		if err := t.DecodeFromBytes(payload, df); err != nil {
			break
		}
		b = appendEndpoints(b, src, dst, uint16(t.SrcPort), uint16(t.DstPort))
		return o.tcpLine(b, plen-int(t.DataOffset)*4)
	case layers.IPProtocolUDP:
		u := &o.udp
		if err := u.DecodeFromBytes(payload, df); err != nil {
			break
		}
		b = appendEndpoints(b, src, dst, uint16(u.SrcPort), uint16(u.DstPort))
		return o.udpLine(b, int(u.Length)-8)
	}
	b = appendAddr(b, src)
	b = append(b, " > "...)
	b = appendAddr(b, dst)
	b = append(b, ": "...)
	switch proto {
	case layers.IPProtocolICMPv4:
		if err := o.icmp4.DecodeFromBytes(payload, df); err == nil {
			return o.icmp4Line(b, plen)
		}
	case layers.IPProtocolICMPv6:
		if err := o.icmp6.DecodeFromBytes(payload, df); err == nil {
			return o.icmp6Line(b, plen)
		}
	case layers.IPProtocolOSPF:
		return ospfLine(b, payload, plen)
	case layers.IPProtocolIGMP:
		return igmpLine(b, payload, plen)
	case layers.IPProtocolVRRP:
		b = append(b, "VRRP"...)
		if len(payload) >= 2 {
			b = append(b, "v"...)
			b = appendUint(b, uint64(payload[0]>>4))
			b = append(b, ", vrid "...)
			b = appendUint(b, uint64(payload[1]))
		}
		return appendLength(b, plen)
	}
	b = appendProto(b, proto)
	if proto == layers.IPProtocolTCP || proto == layers.IPProtocolUDP || proto == layers.IPProtocolICMPv4 ||
		proto == layers.IPProtocolICMPv6 {
		b = append(b, " [|"...)
		b = appendProto(b, proto)
		b = append(b, ']')
	}
	return appendLength(b, plen)
}

func appendEndpoints(b []byte, src, dst []byte, sport, dport uint16) []byte {
	b = appendAddr(b, src)
	b = append(b, '.')
	b = appendUint(b, uint64(sport))
	b = append(b, " > "...)
	b = appendAddr(b, dst)
	b = append(b, '.')
	b = appendUint(b, uint64(dport))
	return append(b, ": "...)
}

func (o *textOutput) tcpLine(b []byte, dlen int) []byte {
	t := &o.tcp
	b = append(b, "Flags ["...)
	n := len(b)
	for _, f := range [...]struct {
		on bool
		c  byte
	}{{t.FIN, 'F'}, {t.SYN, 'S'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.ACK, '.'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}} {
		if f.on {
			b = append(b, f.c)
		}
	}
	if len(b) == n {
		b = append(b, "none"...)
	}
	b = append(b, ']')
	if dlen < 0 {
		dlen = 0
	}
	if dlen > 0 || t.SYN || t.FIN || t.RST {
		b = append(b, ", seq "...)
		b = appendUint(b, uint64(t.Seq))
		if dlen > 0 {
			b = append(b, ':')
			b = appendUint(b, uint64(t.Seq)+uint64(dlen))
		}
	}
	if t.ACK {
		b = append(b, ", ack "...)
		b = appendUint(b, uint64(t.Ack))
	}
	b = append(b, ", win "...)
	b = appendUint(b, uint64(t.Window))
	b = appendLength(b, dlen)
	if dlen == 0 || len(t.Payload) == 0 {
		return b
	}
	switch {
	case t.SrcPort == 179 || t.DstPort == 179:
		return bgpSummary(b, t.Payload)
	case t.SrcPort == 53 || t.DstPort == 53:
		if len(t.Payload) > 2 && o.dns.DecodeFromBytes(t.Payload[2:], gopacket.NilDecodeFeedback) == nil {
			b = append(b, ": "...)
			return o.dnsSummary(b)
		}
	}
	return b
}

// udpNames names well-known UDP services that the summary does not decode further.
var udpNames = map[uint16]string{
	123: "NTP", 161: "SNMP", 162: "SNMP trap", 514: "syslog", 1812: "RADIUS", 1813: "RADIUS",
	3784: "BFD control", 4784: "BFD multihop", 3785: "BFD echo", 4789: "VXLAN", 6081: "Geneve",
	646: "LDP", 1985: "HSRP", 319: "PTP", 320: "PTP", 69: "TFTP",
}

func (o *textOutput) udpLine(b []byte, dlen int) []byte {
	u := &o.udp
	sp, dp := uint16(u.SrcPort), uint16(u.DstPort)
	data := u.Payload
	either := func(p uint16) bool { return sp == p || dp == p }
	switch {
	case either(53) || either(5353):
		if o.dns.DecodeFromBytes(data, gopacket.NilDecodeFeedback) == nil {
			if either(5353) {
				b = append(b, 'm')
			}
			return appendLength(o.dnsSummary(b), dlen)
		}
	case either(67) || either(68):
		return appendLength(dhcpSummary(b, data), dlen)
	case either(546) || either(547):
		return appendLength(dhcp6Summary(b, data), dlen)
	case sp == 520 || dp == 520:
		return ripSummary(b, data, dlen, "RIP")
	case sp == 521 || dp == 521:
		return ripSummary(b, data, dlen, "RIPng")
	}
	name, ok := udpNames[dp]
	if !ok {
		name, ok = udpNames[sp]
	}
	if ok {
		b = append(b, name...)
	} else {
		b = append(b, "UDP"...)
	}
	return appendLength(b, dlen)
}

// dnsSummary appends the decoded message as tcpdump does: "DNS 4660+ A? example.com." for a
// query, "DNS 4660 1/0/0 A 192.0.2.1" for a response (answers/authorities/additionals, then
// the first answer).
func (o *textOutput) dnsSummary(b []byte) []byte {
	d := &o.dns
	b = append(b, "DNS "...)
	b = appendUint(b, uint64(d.ID))
	if !d.QR {
		if d.RD {
			b = append(b, '+')
		}
		for _, q := range d.Questions {
			b = append(b, ' ')
			b = append(b, q.Type.String()...)
			b = append(b, "? "...)
			b = append(b, q.Name...)
			b = append(b, '.')
		}
		return b
	}
	if d.ResponseCode != layers.DNSResponseCodeNoErr {
		b = append(b, ' ')
		b = append(b, d.ResponseCode.String()...)
	}
	b = append(b, ' ')
	b = appendUint(b, uint64(d.ANCount))
	b = append(b, '/')
	b = appendUint(b, uint64(d.NSCount))
	b = append(b, '/')
	b = appendUint(b, uint64(d.ARCount))
	for i, a := range d.Answers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ' ')
		b = append(b, a.Type.String()...)
		b = append(b, ' ')
		switch a.Type {
		case layers.DNSTypeA, layers.DNSTypeAAAA:
			b = appendAddr(b, a.IP)
		case layers.DNSTypeCNAME:
			b = append(b, a.CNAME...)
		case layers.DNSTypePTR:
			b = append(b, a.PTR...)
		case layers.DNSTypeNS:
			b = append(b, a.NS...)
		default:
			b = b[:len(b)-1]
		}
	}
	return b
}

var dhcpTypes = [...]string{1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK", 6: "NAK",
	7: "Release", 8: "Inform"}

// dhcpSummary recognises BOOTP/DHCPv4 from the fixed header and option 53 (message type).
func dhcpSummary(b []byte, data []byte) []byte {
	const optStart = 240 // fixed BOOTP header (236) and the magic cookie
	if len(data) < optStart || binary.BigEndian.Uint32(data[236:240]) != 0x63825363 {
		if len(data) > 0 && data[0] == 1 {
			return append(b, "BOOTP/DHCP, Request"...)
		}
		return append(b, "BOOTP/DHCP"...)
	}
	b = append(b, "DHCP"...)
	for opts := data[optStart:]; len(opts) > 0; {
		code := opts[0]
		if code == 0 {
			opts = opts[1:]
			continue
		}
		if code == 255 || len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			break
		}
		if code == 53 && opts[1] == 1 {
			if t := int(opts[2]); t < len(dhcpTypes) && dhcpTypes[t] != "" {
				b = append(b, ' ')
				b = append(b, dhcpTypes[t]...)
			} else {
				b = append(b, " type "...)
				b = appendUint(b, uint64(t))
			}
			break
		}
		opts = opts[2+int(opts[1]):]
	}
	b = append(b, ", xid "...)
	b = appendHex(b, uint64(binary.BigEndian.Uint32(data[4:8])), 8)
	if data[0] == 1 {
		b = append(b, ", from "...)
		b = appendMAC(b, data[28:34])
	}
	return b
}

var dhcp6Types = [...]string{1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew",
	6: "rebind", 7: "reply", 8: "release", 9: "decline", 10: "reconfigure", 11: "inf-req",
	12: "relay-fwd", 13: "relay-reply"}

func dhcp6Summary(b []byte, data []byte) []byte {
	b = append(b, "DHCPv6"...)
	if len(data) >= 4 {
		if t := int(data[0]); t < len(dhcp6Types) && dhcp6Types[t] != "" {
			b = append(b, ' ')
			b = append(b, dhcp6Types[t]...)
		}
		if data[0] < 12 {
			b = append(b, " (xid="...)
			b = appendHex(b, uint64(binary.BigEndian.Uint32(data[0:4])&0xffffff), 6)
			b = append(b, ')')
		}
	}
	return b
}

// ripSummary: RIPv1/v2 (RFC 2453) and RIPng (RFC 2080) share a 4-byte header (command,
// version) followed by 20-byte entries.
func ripSummary(b []byte, data []byte, dlen int, name string) []byte {
	b = append(b, name...)
	if len(data) < 4 {
		return appendLength(b, dlen)
	}
	if name == "RIP" {
		b = append(b, 'v')
		b = appendUint(b, uint64(data[1]))
	}
	switch data[0] {
	case 1:
		b = append(b, ", Request"...)
	case 2:
		b = append(b, ", Response"...)
	default:
		b = append(b, ", command "...)
		b = appendUint(b, uint64(data[0]))
	}
	b = appendLength(b, dlen)
	b = append(b, ", routes: "...)
	return appendUint(b, uint64((dlen-4)/20))
}

var bgpTypes = [...]string{1: "Open", 2: "Update", 3: "Notification", 4: "Keepalive", 5: "Route-Refresh"}

// bgpSummary lists the types of the BGP messages (RFC 4271) that start in a TCP segment.
func bgpSummary(b []byte, data []byte) []byte {
	b = append(b, ": BGP"...)
	sep := byte(' ')
	for n := 0; len(data) >= 19 && n < 8; n++ {
		for _, c := range data[:16] {
			if c != 0xff {
				return b
			}
		}
		mlen := int(binary.BigEndian.Uint16(data[16:18]))
		b = append(b, sep)
		sep = ','
		if t := int(data[18]); t < len(bgpTypes) && bgpTypes[t] != "" {
			b = append(b, bgpTypes[t]...)
		} else {
			b = append(b, "type "...)
			b = appendUint(b, uint64(t))
		}
		if mlen < 19 || mlen > len(data) {
			break
		}
		data = data[mlen:]
	}
	return b
}

var ospfTypes = [...]string{1: "Hello", 2: "Database Description", 3: "LS-Request", 4: "LS-Update", 5: "LS-Ack"}

// ospfLine recognises OSPFv2 (RFC 2328) and OSPFv3 (RFC 5340); both start with version,
// type, length and router ID.
func ospfLine(b []byte, data []byte, plen int) []byte {
	if len(data) < 8 {
		b = append(b, "OSPF"...)
		return appendLength(b, plen)
	}
	b = append(b, "OSPFv"...)
	b = appendUint(b, uint64(data[0]))
	b = append(b, ", "...)
	if t := int(data[1]); t < len(ospfTypes) && ospfTypes[t] != "" {
		b = append(b, ospfTypes[t]...)
	} else {
		b = append(b, "type "...)
		b = appendUint(b, uint64(t))
	}
	b = append(b, ", router "...)
	b = appendAddr(b, data[4:8])
	return appendLength(b, plen)
}

func igmpLine(b []byte, data []byte, plen int) []byte {
	b = append(b, "IGMP"...)
	if len(data) >= 8 {
		switch data[0] {
		case 0x11:
			b = append(b, " query"...)
		case 0x12:
			b = append(b, " v1 report "...)
			b = appendAddr(b, data[4:8])
		case 0x16:
			b = append(b, " v2 report "...)
			b = appendAddr(b, data[4:8])
		case 0x17:
			b = append(b, " leave "...)
			b = appendAddr(b, data[4:8])
		case 0x22:
			b = append(b, " v3 report, "...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(data[6:8])))
			b = append(b, " group record(s)"...)
		}
	}
	return appendLength(b, plen)
}

var unreachCodes = [...]string{0: "net", 1: "host", 2: "protocol", 3: "port", 4: "need to frag",
	5: "source route failed", 6: "net unknown", 7: "host unknown", 9: "net prohibited",
	10: "host prohibited", 13: "administratively prohibited"}

func (o *textOutput) icmp4Line(b []byte, plen int) []byte {
	ic := &o.icmp4
	b = append(b, "ICMP "...)
	typ, code := ic.TypeCode.Type(), ic.TypeCode.Code()
	switch typ {
	case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
		if typ == layers.ICMPv4TypeEchoRequest {
			b = append(b, "echo request"...)
		} else {
			b = append(b, "echo reply"...)
		}
		b = append(b, ", id "...)
		b = appendUint(b, uint64(ic.Id))
		b = append(b, ", seq "...)
		b = appendUint(b, uint64(ic.Seq))
	case layers.ICMPv4TypeDestinationUnreachable:
		inner := ic.Payload
		if len(inner) >= 20 && inner[0]>>4 == 4 {
			ihl := int(inner[0]&15) * 4
			b = appendAddr(b, inner[16:20])
			switch {
			case code == 3 && len(inner) >= ihl+4 && (inner[9] == 6 || inner[9] == 17):
				if inner[9] == 6 {
					b = append(b, " tcp port "...)
				} else {
					b = append(b, " udp port "...)
				}
				b = appendUint(b, uint64(binary.BigEndian.Uint16(inner[ihl+2:])))
			case code == 2:
				b = append(b, " protocol "...)
				b = appendUint(b, uint64(inner[9]))
			}
			b = append(b, ' ')
		}
		b = append(b, "unreachable"...)
		if int(code) < len(unreachCodes) && unreachCodes[code] != "" && code != 3 && code != 2 {
			b = append(b, " - "...)
			b = append(b, unreachCodes[code]...)
		}
		if code == 4 {
			b = append(b, " (mtu "...)
			b = appendUint(b, uint64(ic.Seq))
			b = append(b, ')')
		}
	case layers.ICMPv4TypeTimeExceeded:
		if code == 0 {
			b = append(b, "time exceeded in-transit"...)
		} else {
			b = append(b, "ip reassembly time exceeded"...)
		}
	case layers.ICMPv4TypeRedirect:
		b = append(b, "redirect"...)
	case layers.ICMPv4TypeParameterProblem:
		b = append(b, "parameter problem"...)
	case layers.ICMPv4TypeTimestampRequest:
		b = append(b, "time stamp query"...)
	case layers.ICMPv4TypeTimestampReply:
		b = append(b, "time stamp reply"...)
	case layers.ICMPv4TypeRouterAdvertisement:
		b = append(b, "router advertisement"...)
	case layers.ICMPv4TypeRouterSolicitation:
		b = append(b, "router solicitation"...)
	default:
		b = append(b, "type "...)
		b = appendUint(b, uint64(typ))
		b = append(b, " code "...)
		b = appendUint(b, uint64(code))
	}
	return appendLength(b, plen)
}

func (o *textOutput) icmp6Line(b []byte, plen int) []byte {
	ic := &o.icmp6
	body := ic.Payload // after type, code and checksum
	b = append(b, "ICMP6, "...)
	switch typ := ic.TypeCode.Type(); typ {
	case layers.ICMPv6TypeEchoRequest, layers.ICMPv6TypeEchoReply:
		if typ == layers.ICMPv6TypeEchoRequest {
			b = append(b, "echo request"...)
		} else {
			b = append(b, "echo reply"...)
		}
		if len(body) >= 4 {
			b = append(b, ", id "...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(body[0:2])))
			b = append(b, ", seq "...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(body[2:4])))
		}
	case layers.ICMPv6TypeNeighborSolicitation:
		b = append(b, "neighbor solicitation"...)
		if len(body) >= 20 {
			b = append(b, ", who has "...)
			b = appendAddr(b, body[4:20])
		}
	case layers.ICMPv6TypeNeighborAdvertisement:
		b = append(b, "neighbor advertisement"...)
		if len(body) >= 20 {
			b = append(b, ", tgt is "...)
			b = appendAddr(b, body[4:20])
		}
	case layers.ICMPv6TypeRouterSolicitation:
		b = append(b, "router solicitation"...)
	case layers.ICMPv6TypeRouterAdvertisement:
		b = append(b, "router advertisement"...)
	case layers.ICMPv6TypeRedirect:
		b = append(b, "redirect"...)
		if len(body) >= 36 {
			b = append(b, ", "...)
			b = appendAddr(b, body[20:36])
			b = append(b, " to "...)
			b = appendAddr(b, body[4:20])
		}
	case layers.ICMPv6TypeDestinationUnreachable:
		b = append(b, "destination unreachable"...)
		if c := ic.TypeCode.Code(); c < 7 {
			b = append(b, ", "...)
			b = append(b, [...]string{"no route", "prohibited", "beyond scope", "unreachable address",
				"unreachable port", "failed policy", "reject route"}[c]...)
		}
	case layers.ICMPv6TypePacketTooBig:
		b = append(b, "packet too big"...)
		if len(body) >= 4 {
			b = append(b, ", mtu "...)
			b = appendUint(b, uint64(binary.BigEndian.Uint32(body[0:4])))
		}
	case layers.ICMPv6TypeTimeExceeded:
		b = append(b, "time exceeded in-transit"...)
	case layers.ICMPv6TypeParameterProblem:
		b = append(b, "parameter problem"...)
	case layers.ICMPv6TypeMLDv1MulticastListenerQueryMessage:
		b = append(b, "multicast listener query"...)
	case layers.ICMPv6TypeMLDv1MulticastListenerReportMessage:
		b = append(b, "multicast listener report"...)
	case layers.ICMPv6TypeMLDv1MulticastListenerDoneMessage:
		b = append(b, "multicast listener done"...)
	case layers.ICMPv6TypeMLDv2MulticastListenerReportMessageV2:
		b = append(b, "multicast listener report v2"...)
		if len(body) >= 4 {
			b = append(b, ", "...)
			b = appendUint(b, uint64(binary.BigEndian.Uint16(body[2:4])))
			b = append(b, " group record(s)"...)
		}
	default:
		b = append(b, "type "...)
		b = appendUint(b, uint64(typ))
	}
	return appendLength(b, plen)
}
