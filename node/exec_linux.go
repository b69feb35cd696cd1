package node

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Cmd is a command to run inside a node.
type Cmd struct {
	Argv []string
	// Env is the caller's environment (the node's env attribute and Extra
	// override it); Extra holds the command's own KEY=VALUE settings.
	Env, Extra []string
	// Dir is the working directory; "/" where it does not exist in the node.
	Dir string
	// Stdin, Stdout and Stderr are handed to the command itself (the init
	// receives the descriptors), so data never passes through topo.
	Stdin, Stdout, Stderr *os.File
	// Signals, when not nil, are forwarded to the command's process group;
	// with TTY, SIGWINCH resizes the terminal instead.
	Signals <-chan os.Signal
	// TTY runs the command on a pseudo-terminal made in the node: Stdin is
	// put in raw mode when it is a terminal, and bytes are copied between
	// it, Stdout and the terminal, so Ctrl-C reaches the command.
	TTY bool
}

// Run runs c in the node whose init is p and returns the command's exit
// status (128+N when killed by signal N). An error means the command could
// not be run at all; the status then says why as a shell would (127 not
// found, 126 not executable).
func Run(p Proc, c Cmd) (int, error) {
	conn, err := dial(p)
	if err != nil {
		return 1, fmt.Errorf("reach node: %w", err)
	}
	defer conn.Close()
	var rights []byte
	var rows, cols uint16
	if c.TTY {
		if w, h, err := term.GetSize(int(c.Stdout.Fd())); err == nil {
			rows, cols = uint16(h), uint16(w)
		}
	} else {
		rights = unix.UnixRights(int(c.Stdin.Fd()), int(c.Stdout.Fd()), int(c.Stderr.Fd()))
	}
	b, err := runRequest(c, rows, cols)
	if err != nil {
		return 1, err
	}
	if _, _, err := conn.WriteMsgUnix(b, rights, nil); err != nil {
		return 1, fmt.Errorf("send command: %w", err)
	}
	r, fds, err := readReplyFDs(conn)
	if err != nil {
		return 1, err
	}
	if r.Error != "" {
		code := 1
		if r.Exit != nil {
			code = *r.Exit
		}
		return code, errors.New(r.Error)
	}
	var master *os.File
	outDone := make(chan struct{})
	if c.TTY {
		if len(fds) != 1 {
			return 1, fmt.Errorf("node sent no terminal")
		}
		// Non-blocking, so that Go's poller serves it and closing it
		// ends the copier's Read instead of waiting for it.
		if err := unix.SetNonblock(fds[0], true); err != nil {
			return 1, err
		}
		master = os.NewFile(uintptr(fds[0]), "pty")
		defer master.Close()
		if term.IsTerminal(int(c.Stdin.Fd())) {
			if old, err := term.MakeRaw(int(c.Stdin.Fd())); err == nil {
				defer term.Restore(int(c.Stdin.Fd()), old)
			}
		}
		go func() { _, _ = io.Copy(master, c.Stdin) }()
		go func() {
			_, _ = io.Copy(c.Stdout, master)
			close(outDone)
		}()
	} else {
		for _, fd := range fds {
			unix.Close(fd)
		}
		close(outDone)
	}
	replies := make(chan reply, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := readReply(conn)
		if err != nil {
			errc <- err
			return
		}
		replies <- r
	}()
	for {
		select {
		case s := <-c.Signals:
			if s == syscall.SIGWINCH && master != nil {
				if w, h, err := term.GetSize(int(c.Stdout.Fd())); err == nil {
					_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
				}
				continue
			}
			if sig, ok := s.(syscall.Signal); ok {
				_, _ = conn.Write(signalMsg(int(sig)))
			}
		case r := <-replies:
			if r.Exit == nil {
				return 1, fmt.Errorf("node ended the command without a status")
			}
			// Let the terminal's last output through; a background
			// process that keeps the terminal open must not hold us.
			select {
			case <-outDone:
			case <-time.After(250 * time.Millisecond):
			}
			return *r.Exit, nil
		case err := <-errc:
			return 1, fmt.Errorf("node went away: %w", err)
		}
	}
}

// RunScript hands the node's exec lines to its init, which runs them one
// after another with /bin/sh -c in the background, output to the node's log.
func RunScript(p Proc, lines []string) error {
	conn, err := dial(p)
	if err != nil {
		return fmt.Errorf("reach node: %w", err)
	}
	defer conn.Close()
	b, err := scriptRequest(lines)
	if err != nil {
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return err
	}
	r, err := readReply(conn)
	if err != nil {
		return err
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

func readReply(c *net.UnixConn) (reply, error) {
	r, fds, err := readReplyFDs(c)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return r, err
}

// readReplyFDs reads one reply and the descriptors that came with it.
func readReplyFDs(c *net.UnixConn) (reply, []int, error) {
	b := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		return reply{}, nil, err
	}
	var fds []int
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	if n == 0 {
		err = fmt.Errorf("node closed the connection")
	}
	var r reply
	if err == nil {
		r, err = parseReply(b[:n])
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return reply{}, nil, err
	}
	return r, fds, nil
}
