package topo

import (
	"context"

	"github.com/topo-lab/topo/link"
)

// preflight checks, before anything is created, that the kernel has what
// the lab asks for (sch_netem for delay, jitter and loss).
func preflight(lab *Lab) error { return nil }

// impair applies a link's impairments to both of its ends, once the veth
// pair exists.
func (u *upper) impair(l *Link, v link.Veth) error { return nil }

// stopSchedules ends the lab's background link schedules (flaps, timed
// faults); Down calls it before ending the nodes.
func stopSchedules(ctx context.Context, dir string) error { return nil }
