package topo

import "net"

// mustMAC parses a MAC address the planner made; a bad one is a bug.
func mustMAC(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		panic("topo: planner made a bad MAC " + s)
	}
	return m
}
