package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/topo-lab/topo/internal/testutil"
)

func TestCopyInAndOut(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckLeftovers(t)
	sock, _ := startNode(t, Config{Lab: "t", Name: "cp1"})
	src := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(src, "sub"), 0o750)
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "secret"), []byte("s3cret"), 0o600)
	os.Symlink("run.sh", filepath.Join(src, "link"))

	// Into a folder that exists: lands under the source's name.
	if err := CopyIn(sock, src, "/tmp"); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, sock, "stat", "-c", "%a %n", "/tmp/tree/run.sh", "/tmp/tree/sub", "/tmp/tree/sub/secret"); code != 0 ||
		out != "755 /tmp/tree/run.sh\n750 /tmp/tree/sub\n600 /tmp/tree/sub/secret\n" {
		t.Errorf("modes in the node: %d %q", code, out)
	}
	if out, _ := run(t, sock, "/tmp/tree/link"); out != "hi\n" {
		t.Errorf("symlink in the node runs %q", out)
	}
	// A single file to a new name.
	if err := CopyIn(sock, filepath.Join(src, "sub", "secret"), "/tmp/renamed"); err != nil {
		t.Fatal(err)
	}
	if out, _ := run(t, sock, "cat", "/tmp/renamed"); out != "s3cret" {
		t.Errorf("renamed file: %q", out)
	}
	// The node's /tmp is its own: the host does not see it.
	if _, err := os.Stat("/tmp/renamed"); err == nil {
		t.Error("the copy reached the host's /tmp")
	}
	// And back out.
	back := filepath.Join(t.TempDir(), "back")
	if err := CopyOut(sock, "/tmp/tree", back); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"run.sh": 0o755, "sub": 0o750 | os.ModeDir, "sub/secret": 0o600} {
		st, err := os.Stat(filepath.Join(back, p))
		if err != nil || st.Mode() != want {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(back, "sub", "secret")); string(b) != "s3cret" {
		t.Errorf("content back: %q", b)
	}
	if err := CopyOut(sock, "/tmp/nonexistent", back); err == nil {
		t.Error("copying a missing node file succeeded")
	}
}
