package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/topo-lab/topo/internal/testutil"
)

// TestDownFastPath takes a lab down with the plain "topo down [LAB]",
// served by C before the Go runtime starts (topo/down_fast.c), and with the
// Go command: both say the same, remove the state at once, and end every
// node soon after. The forms the C path leaves to Go still work.
func TestDownFastPath(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	said := regexp.MustCompile(`^lab quickstart down in (0s|[0-9]+ms|[0-9.]+s)\n$`)
	for _, slow := range []bool{false, true} {
		for _, args := range [][]string{{"down", "quickstart"}, {"down"}} {
			name := map[bool]string{false: "fast", true: "go"}[slow] + "/" + strings.Join(args, "_")
			t.Run(name, func(t *testing.T) {
				if slow {
					t.Setenv("TOPO_DOWN_SLOW", "1")
				}
				root := upQuickstart(t)
				// GODEBUG=inittrace=1 makes the Go runtime print its
				// package inits: the fast path never starts it.
				t.Setenv("GODEBUG", "inittrace=1")
				out, errs, code := topoCmd(t, root, "", args...)
				os.Unsetenv("GODEBUG")
				if ran := strings.Contains(errs, "init runtime"); code != 0 || ran != slow {
					t.Errorf("status %d, Go runtime started: %v, want %v\n%s", code, ran, slow, errs)
				}
				if !said.MatchString(out) {
					t.Errorf("said %q", out)
				}
				if ents, _ := os.ReadDir(root); len(ents) != 0 {
					t.Errorf("state left: %v", ents)
				}
				if !testutil.Eventually(10*time.Second, func() bool { return initsUnder(root) == 0 }) {
					t.Errorf("%d inits left 10s after down", initsUnder(root))
				}
			})
		}
	}

	t.Run("left to go", func(t *testing.T) {
		root := upQuickstart(t)
		t.Setenv("GODEBUG", "inittrace=1")
		defer os.Unsetenv("GODEBUG")
		// A lab that is not there, and one whose lab init is gone: Go
		// explains the first and finishes the second.
		if _, errs, code := topoCmd(t, root, "", "down", "nosuch"); code != 1 || !strings.Contains(errs, `lab "nosuch"`) {
			t.Errorf("down nosuch: %d %q", code, errs)
		}
		b, err := os.ReadFile(filepath.Join(root, "quickstart", "labinit"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "quickstart", "labinit"), []byte("1 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errs, code := topoCmd(t, root, "", "down", "quickstart")
		if code != 0 || !strings.Contains(errs, "init runtime") {
			t.Errorf("down with a lab init that is not the file's: status %d, Go ran: %v\n%s", code, strings.Contains(errs, "init runtime"), errs)
		}
		// The real lab init, which Go could not trust, ended with the
		// nodes (they were found by their command lines).
		if !testutil.Eventually(10*time.Second, func() bool { return initsUnder(root) == 0 }) {
			t.Errorf("%d inits left 10s after down (labinit was %q)", initsUnder(root), b)
		}
	})
}
