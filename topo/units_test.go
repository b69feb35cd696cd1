package topo

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"100mbit", 100e6, ""},
		{"1gbit", 1e9, ""},
		{"1Gbit", 1e9, ""},
		{"500kbit", 500e3, ""},
		{"64000bit", 64000, ""},
		{"1.5mbit", 1.5e6, ""},
		{"10mbps", 80e6, ""}, // megaBYTES per second, as tc means it
		{"1kbps", 8000, ""},
		{"1kibit", 1024, ""},
		{"2mibit", 2 << 20, ""},
		{"1gibps", 8 << 30, ""},
		{" 10mbit ", 10e6, ""},
		{"100", 0, "write a unit, e.g. 100mbit"},
		{"mbit", 0, "write a number and a unit"},
		{"", 0, "write a number and a unit"},
		{"10furlongs", 0, `unknown unit "furlongs"`},
		{"0bit", 0, "at least 1bit"},
		{"1.2.3mbit", 0, "write a number"},
		{"99999tbit", 0, "too high"},
	} {
		got, err := ParseRate(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseRate(%q) = %d, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want string
	}{{0, "unlimited"}, {1, "1bit"}, {1000, "1kbit"}, {1500000, "1500kbit"}, {100e6, "100mbit"}, {1e9, "1gbit"}, {2e12, "2tbit"}, {1048576, "1048576bit"}} {
		if got := FormatRate(c.in); got != c.want {
			t.Errorf("FormatRate(%d) = %q, want %q", c.in, got, c.want)
		}
		if c.in > 0 {
			if back, err := ParseRate(FormatRate(c.in)); err != nil || back != c.in {
				t.Errorf("round trip of %d: %d, %v", c.in, back, err)
			}
		}
	}
}

func TestParseDelay(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"10ms", 10 * time.Millisecond, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"200us", 200 * time.Microsecond, ""},
		{"200µs", 200 * time.Microsecond, ""},
		{"0ms", 0, ""},
		{"10", 0, "has no unit: write 10ms"},
		{"1.5", 0, "write 1.5ms"},
		{"-5ms", 0, "negative"},
		{"2h", 0, "longer than"},
		{"soon", 0, "not a duration"},
	} {
		got, err := ParseDelay(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDelay(%q) = %v, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDelay(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseLoss(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		err  string
	}{
		{"0.5%", 0.5, ""},
		{"0.5", 0.5, ""},
		{"100%", 100, ""},
		{"0", 0, ""},
		{" 2 % ", 2, ""},
		{"101%", 0, "between 0% and 100%"},
		{"-1", 0, "between"},
		{"NaN", 0, "write a percentage"},
		{"half", 0, "write a percentage"},
	} {
		got, err := ParseLoss(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseLoss(%q) = %v, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
