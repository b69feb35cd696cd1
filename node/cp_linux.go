package node

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// CopyIn copies the host file or folder src into the node whose init is
// p, as cp -r would: to dst when dst is not an existing folder in the
// node, else into it under src's base name. Modes and times are kept. It
// runs tar inside the node (the node's own view of its files: its private
// /tmp, its image root) and streams a tar archive to it.
func CopyIn(p Proc, src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	name, dir, err := target(p, dst, filepath.Base(src))
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		err := writeTar(pw, src, name, st)
		pw.Close()
		werr <- err
	}()
	code, stderr, err := runCapture(p, pr, nil, "tar", "-x", "-p", "-f", "-", "-C", dir)
	pr.Close()
	if err := <-werr; err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar in the node: %s", strings.TrimSpace(stderr))
	}
	return nil
}

// CopyOut copies the file or folder src of the node to the host path dst,
// with the same rules as CopyIn.
func CopyOut(p Proc, src, dst string) error {
	name := filepath.Base(dst)
	dir := filepath.Dir(dst)
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		name, dir = path.Base(src), dst
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	rerr := make(chan error, 1)
	go func() {
		err := readTar(pr, path.Base(src), name, dir)
		// Drain, so that tar in the node never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
		rerr <- err
	}()
	code, stderr, err := runCapture(p, nil, pw, "tar", "-c", "-f", "-", "-C", path.Dir(src), path.Base(src))
	pw.Close()
	terr := <-rerr
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar in the node: %s", strings.TrimSpace(stderr))
	}
	return terr
}

// target decides where a copy into the node lands: the folder to extract
// into and the name of the top entry.
func target(p Proc, dst, base string) (name, dir string, err error) {
	if !path.IsAbs(dst) {
		return "", "", fmt.Errorf("node path %q: write an absolute path", dst)
	}
	code, _, err := runCapture(p, nil, nil, "test", "-d", dst)
	if err != nil {
		return "", "", err
	}
	if code == 0 {
		return base, dst, nil
	}
	return path.Base(dst), path.Dir(dst), nil
}

// runCapture runs argv in the node with the given stdin and stdout (nil:
// /dev/null) and returns its status and stderr.
func runCapture(p Proc, stdin, stdout *os.File, argv ...string) (int, string, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 1, "", err
	}
	defer null.Close()
	if stdin == nil {
		stdin = null
	}
	if stdout == nil {
		stdout = null
	}
	errf, err := os.CreateTemp("", "topo-cp")
	if err != nil {
		return 1, "", err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	code, err := Run(p, Cmd{Argv: argv, Dir: "/", Stdin: stdin, Stdout: stdout, Stderr: errf})
	b, _ := os.ReadFile(errf.Name())
	return code, string(b), err
}

// writeTar writes src as an archive whose top entry is called name.
func writeTar(w io.Writer, src, name string, top fs.FileInfo) error {
	tw := tar.NewWriter(w)
	add := func(p, rel string, fi fs.FileInfo) error {
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	}
	if !top.IsDir() {
		if err := add(src, name, top); err != nil {
			return err
		}
		return tw.Close()
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return add(p, path.Join(name, filepath.ToSlash(rel)), fi)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// readTar extracts an archive whose top entry is from into dir, renaming
// that entry to name.
func readTar(r io.Reader, from, name, dir string) error {
	return extract(r, dir, untar{place: func(rel string) (string, error) {
		if rel == from {
			return name, nil
		}
		if r, ok := strings.CutPrefix(rel, from+"/"); ok {
			return path.Join(name, r), nil
		}
		return "", fmt.Errorf("unexpected entry %q in the node's archive", rel)
	}})
}
