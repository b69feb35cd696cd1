package topo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and every error is a *ValidationError.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, pat := range []string{"../examples/*.dot", "../labs/*/*.dot", "../labs/*/*/*.dot", "testdata/good/*.dot", "testdata/bad/*.dot"} {
		m, _ := filepath.Glob(pat)
		seeds = append(seeds, m...)
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := Parse("testdata/fuzz.dot", data, "")
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatal("a ValidationError without problems")
			}
			return
		}
		checkInvariants(t, lab)
	})
}

// FuzzChecks: ParseChecks never panics and every error is a
// *ValidationError with problems; checks it accepts validate against a lab,
// and describe themselves, without panicking.
func FuzzChecks(f *testing.F) {
	m, _ := filepath.Glob("../labs/*/*.checks")
	if len(m) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range m {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"ping h1 h2", "not route r1 default6 via fd00::1 dev eth0 proto 188",
		`run r1 'echo "#x"' matches "^\d+ \"q\" \\ #"`, "pingall h1 h2 # note", "route r1 10.0.0.0/8\r\n"} {
		f.Add([]byte(s))
	}
	lab, err := Load("../examples/quickstart.dot", "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checks, err := ParseChecks("fuzz.checks", data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			return
		}
		if err := ValidateChecks(lab, "fuzz.checks", checks); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("validation error %T without problems: %v", err, err)
			}
			return
		}
		for _, c := range checks {
			_ = c.Expected(lab)
			_ = c.Pattern()
		}
	})
}
