package topo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// rateUnits maps the units ParseRate accepts to bits per second. They are
// tc's units (tc(8), "RATES"): "bit" and the decimal prefixes count bits,
// the binary prefixes ("kibit") count in powers of 1024, and "bps" counts
// BYTES per second, as tc means it: "10mbps" is 80 Mbit/s, not 10.
var rateUnits = map[string]float64{
	"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}

// splitNumber splits "1.5mbit" into "1.5" and "mbit".
func splitNumber(s string) (num, unit string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// ParseRate parses a tc-style rate such as "100mbit", "1gbit", "500kbit",
// "64000bit" or "1.5mibit" and returns bits per second. Units are
// case-insensitive. "bps" is bytes per second, as in tc: "10mbps" is
// 80000000. A bare number is refused because tc and people disagree on what
// it means.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	num, unit := splitNumber(t)
	if num == "" {
		return 0, fmt.Errorf("rate %q: write a number and a unit, e.g. 100mbit", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: write a number and a unit, e.g. 100mbit", s)
	}
	if unit == "" {
		return 0, fmt.Errorf("rate %q: write a unit, e.g. %smbit (bit, kbit, mbit, gbit; kibit, mibit, gibit; bps is bytes per second)", s, num)
	}
	mult, ok := rateUnits[unit]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q: use bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, or bps, kbps, mbps, gbps (bytes per second)", s, unit)
	}
	bps := math.Round(v * mult)
	if bps < 1 {
		return 0, fmt.Errorf("rate %q: must be at least 1bit; leave rate out for an unlimited link", s)
	}
	// tc's 64-bit rates reach far beyond this; a higher rate is a typo.
	if bps > 1e15 {
		return 0, fmt.Errorf("rate %q: too high: at most 1000tbit", s)
	}
	return uint64(bps), nil
}

// FormatRate formats bits per second in the largest decimal tc unit that
// represents it exactly, so that ParseRate(FormatRate(r)) == r: 100000000
// is "100mbit", 1500000 is "1500kbit", 0 is "unlimited".
func FormatRate(bps uint64) string {
	if bps == 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		name string
		n    uint64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps%u.n == 0 {
			return strconv.FormatUint(bps/u.n, 10) + u.name
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

// maxDelay bounds delay and jitter: netem accepts more, but a link that
// holds packets for over an hour is a typo.
const maxDelay = time.Hour

// ParseDelay parses a delay or jitter such as "10ms", "1.5s" or "200us"
// (Go duration syntax; "µs" works too). A bare number is refused: a unit is
// required. The result is between 0 and one hour.
func ParseDelay(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if num, unit := splitNumber(t); num != "" && unit == "" {
		return 0, fmt.Errorf("%q has no unit: write %sms (or us, s)", s, num)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write e.g. 10ms, 1.5s or 200us", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if d > maxDelay {
		return 0, fmt.Errorf("%q is longer than %v", s, maxDelay)
	}
	return d, nil
}

// ParseLoss parses a packet loss percentage: "0.5%", or a plain number,
// which is read as a percentage too ("0.5" is half a percent, not half the
// packets). The result is between 0 and 100.
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("loss %q: write a percentage, e.g. 0.5%%", s)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("loss %q: must be between 0%% and 100%%", s)
	}
	return v, nil
}

// parseOffset reads a clock offset: a Go duration ("12h", "90m") or whole
// days ("30d"), positive, at most 100 years.
func parseOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("write whole days (30d) or a duration (12h, 90m)")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("write whole days (30d) or a duration (12h, 90m)")
		}
	}
	if d < time.Second || d > 100*365*24*time.Hour {
		return 0, fmt.Errorf("the offset must be between 1s and 100 years")
	}
	return d, nil
}
