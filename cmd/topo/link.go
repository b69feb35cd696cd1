package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/topo-lab/topo/topo"
)

func newLink() *cobra.Command {
	c := &cobra.Command{
		Use:   "link",
		Short: "Show a running lab's links and break them on purpose",
		Long: `Show every link of a running lab, change a link's impairments in place, take
it down and up, or run timed faults in the background.

LINK is NODE:IFACE--NODE:IFACE, NODE--NODE when only one link joins the two
nodes, or NODE:IFACE for one end only (what that end sends). Prefix it with
LAB/ (or give --lab) when several labs run.

delay, jitter, loss, duplicate, corrupt and reorder need the kernel's
sch_netem (modprobe sch_netem); rate, mtu, down, up and flap work without it.`,
	}
	c.AddCommand(newLinkShow(), newLinkSet(), newLinkState(false), newLinkState(true), newLinkFlap(), newLinkSchedule())
	return c
}

func newLinkShow() *cobra.Command {
	var lab, out string
	c := &cobra.Command{
		Use:   "show",
		Short: "List every link: both ends' state and parameters as the kernel has them, and schedules",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			links, err := topo.LinkShow(c.Context(), lab, options())
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(links)
			}
			w := newTable(os.Stdout)
			row(w, "LINK", "END", "STATE", "MTU", "RATE", "DELAY", "JITTER", "LOSS", "OTHER", "DROPS")
			var scheds []topo.Schedule
			for _, l := range links {
				for i, e := range l.Ends {
					name := l.Link
					if i > 0 {
						name = ""
					}
					end := e.Node + ":" + e.Iface
					if e.Error != "" {
						row(w, name, end, "error: "+e.Error, "-", "-", "-", "-", "-", "-", "-")
						continue
					}
					state := "up"
					switch {
					case !e.Up:
						state = "down"
					case !e.Carrier:
						state = "no-carrier"
					}
					im := e.Impair
					rate := "-"
					if im.Rate > 0 {
						rate = topo.FormatRate(im.Rate)
					}
					row(w, name, end, state, e.MTU, rate, dur(im.Delay), dur(im.Jitter), pct(im.Loss), other(e), e.Drops)
				}
				scheds = append(scheds, l.Schedules...)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(scheds) > 0 {
				fmt.Println()
				w = newTable(os.Stdout)
				row(w, "SCHEDULE", "PID", "SINCE", "WHAT")
				for _, s := range scheds {
					row(w, s.ID, s.PID, time.Since(s.Started).Round(time.Second), s.What)
				}
				return w.Flush()
			}
			return nil
		},
	}
	labFlag(c, &lab)
	outputFlag(c, &out)
	return c
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}

func pct(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 6, 64) + "%"
}

// other lists the rarer parameters, and a qdisc that topo did not make.
func other(e topo.EndState) string {
	var p []string
	im := e.Impair
	if im.Duplicate > 0 {
		p = append(p, "duplicate "+pct(im.Duplicate))
	}
	if im.Corrupt > 0 {
		p = append(p, "corrupt "+pct(im.Corrupt))
	}
	if im.Reorder > 0 {
		p = append(p, "reorder "+pct(im.Reorder))
	}
	if im.Limit > 0 {
		p = append(p, fmt.Sprintf("limit %d", im.Limit))
	}
	switch e.Qdisc {
	case "", "tbf", "netem", "netem+tbf":
	default:
		p = append(p, "qdisc "+e.Qdisc)
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, " ")
}

func newLinkSet() *cobra.Command {
	var lab, delay, jitter, loss, dup, corrupt, reorder, rate string
	var limit, mtu int
	var ch topo.LinkChange
	c := &cobra.Command{
		Use:   "set LINK [--delay D] [--jitter D] [--loss P] [--rate R] [--mtu N] [--clear] [--for D [--every D]]",
		Short: "Change a running link's impairments or MTU in place",
		Long: `Change the parameters of LINK in place, on both ends (each direction), or on
one end with NODE:IFACE. Only the parameters given change; --clear removes
every impairment first and stops the link's schedules. A value of 0 (or
--rate unlimited) removes one parameter.

--for D undoes the change after D, from a schedule in the background; with
--every P it comes back every P until topo link set LINK --clear or topo down.

  topo link set r1--r2 --delay 20ms --jitter 5ms
  topo link set h1:eth0 --rate 1mbit
  topo link set r1--r2 --loss 50% --for 5s --every 60s
  topo link set r1--r2 --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f := c.Flags()
			var err error
			durs := []struct {
				flag, v string
				dst     **time.Duration
			}{{"delay", delay, &ch.Delay}, {"jitter", jitter, &ch.Jitter}}
			for _, d := range durs {
				if f.Changed(d.flag) {
					v := time.Duration(0)
					if strings.TrimSpace(d.v) != "0" {
						if v, err = topo.ParseDelay(d.v); err != nil {
							return usageError("--%s %v", d.flag, err)
						}
					}
					*d.dst = &v
				}
			}
			pcts := []struct {
				flag, v string
				dst     **float64
			}{{"loss", loss, &ch.Loss}, {"duplicate", dup, &ch.Duplicate}, {"corrupt", corrupt, &ch.Corrupt}, {"reorder", reorder, &ch.Reorder}}
			for _, p := range pcts {
				if f.Changed(p.flag) {
					v, err := topo.ParseLoss(p.v)
					if err != nil {
						return usageError("--%s: %v", p.flag, err)
					}
					*p.dst = &v
				}
			}
			if f.Changed("rate") {
				var r uint64
				switch strings.ToLower(strings.TrimSpace(rate)) {
				case "0", "unlimited", "none":
				default:
					if r, err = topo.ParseRate(rate); err != nil {
						return usageError("--rate: %v", err)
					}
				}
				ch.Rate = &r
			}
			if f.Changed("limit") {
				ch.Limit = &limit
			}
			if f.Changed("mtu") {
				ch.MTU = &mtu
			}
			if err := topo.LinkSet(c.Context(), lab, args[0], ch, options()); err != nil {
				return err
			}
			if ch.For > 0 {
				fmt.Printf("%s: %s, running in the background (topo link show lists it; topo link set %s --clear stops it)\n", args[0], ch, args[0])
			}
			return nil
		},
	}
	labFlag(c, &lab)
	fl := c.Flags()
	fl.StringVar(&delay, "delay", "", "one-way delay, e.g. 10ms (netem)")
	fl.StringVar(&jitter, "jitter", "", "delay variation, e.g. 2ms (netem; needs a delay)")
	fl.StringVar(&loss, "loss", "", "random loss, e.g. 0.5% (netem)")
	fl.StringVar(&dup, "duplicate", "", "random duplication, e.g. 1% (netem)")
	fl.StringVar(&corrupt, "corrupt", "", "random corruption of one bit, e.g. 0.1% (netem)")
	fl.StringVar(&reorder, "reorder", "", "share of packets sent without the delay, e.g. 25% (netem; needs a delay)")
	fl.StringVar(&rate, "rate", "", "rate limit in tc units, e.g. 10mbit (mbps is megaBYTES/s); unlimited removes it")
	fl.IntVar(&limit, "limit", 0, "queue length in full-size packets (0: default)")
	fl.IntVar(&mtu, "mtu", 0, "MTU, 68 to 65535")
	fl.BoolVar(&ch.Clear, "clear", false, "remove every impairment and stop the link's schedules")
	fl.DurationVar(&ch.For, "for", 0, "undo the change after this long (in the background)")
	fl.DurationVar(&ch.Every, "every", 0, "with --for: apply the change again at this period")
	return c
}

func newLinkState(up bool) *cobra.Command {
	var lab string
	c := &cobra.Command{
		Use:   "down LINK",
		Short: "Take a link down: the first-named end goes down, its peer loses carrier",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return topo.LinkSetState(c.Context(), lab, args[0], up, options())
		},
	}
	if up {
		c.Use = "up LINK"
		c.Short = "Bring a link up again, with the addresses and static routes going down removed"
	}
	labFlag(c, &lab)
	return c
}

func newLinkFlap() *cobra.Command {
	var lab string
	var f topo.Flap
	c := &cobra.Command{
		Use:   "flap LINK [--down D] [--up D] [--count N]",
		Short: "Take a link down and up on a schedule, in the background",
		Long: `Take LINK down for --down, then up for --up, --count times (0: until topo link
set LINK --clear or topo down), from a schedule in the background that
survives the terminal. Down works as in topo link down.

  topo link flap r1--r2 --down 2s --up 8s --count 5`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := topo.LinkFlap(c.Context(), lab, args[0], f, options()); err != nil {
				return err
			}
			fmt.Printf("%s: flapping in the background (topo link show lists it; topo link set %s --clear stops it)\n", args[0], args[0])
			return nil
		},
	}
	labFlag(c, &lab)
	c.Flags().DurationVar(&f.Down, "down", 2*time.Second, "how long the link stays down each time")
	c.Flags().DurationVar(&f.Up, "up", 8*time.Second, "how long the link stays up between")
	c.Flags().IntVar(&f.Count, "count", 0, "how many times (0: until stopped)")
	return c
}

// newLinkSchedule is the hidden command a schedule runs as:
// topo link __sched DIR ID.
func newLinkSchedule() *cobra.Command {
	return &cobra.Command{
		Use:    topo.ScheduleArg + " DIR ID",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if code := topo.RunSchedule(args[0], args[1]); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}
