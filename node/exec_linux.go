package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
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
	// Signals, when not nil, are forwarded to the command's process group.
	Signals <-chan os.Signal
}

// Run runs c in the node whose socket is sock and returns the command's exit
// status (128+N when killed by signal N). An error means the command could
// not be run at all; the status then says why as a shell would (127 not
// found, 126 not executable).
func Run(sock string, c Cmd) (int, error) {
	conn, err := dialSeqpacket(sock)
	if err != nil {
		return 1, fmt.Errorf("reach node: %w", err)
	}
	defer conn.Close()
	b, err := json.Marshal(request{Argv: c.Argv, Env: c.Env, Extra: c.Extra, Dir: c.Dir})
	if err != nil {
		return 1, err
	}
	rights := unix.UnixRights(int(c.Stdin.Fd()), int(c.Stdout.Fd()), int(c.Stderr.Fd()))
	if _, _, err := conn.WriteMsgUnix(b, rights, nil); err != nil {
		return 1, fmt.Errorf("send command: %w", err)
	}
	r, err := readReply(conn)
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
			if sig, ok := s.(syscall.Signal); ok {
				b, _ := json.Marshal(signalMsg{Signal: int(sig)})
				_, _ = conn.Write(b)
			}
		case r := <-replies:
			if r.Exit == nil {
				return 1, fmt.Errorf("node ended the command without a status")
			}
			return *r.Exit, nil
		case err := <-errc:
			return 1, fmt.Errorf("node went away: %w", err)
		}
	}
}

// RunScript hands the node's exec lines to its init, which runs them one
// after another with /bin/sh -c in the background, output to the node's log.
func RunScript(sock string, lines []string) error {
	conn, err := dialSeqpacket(sock)
	if err != nil {
		return fmt.Errorf("reach node: %w", err)
	}
	defer conn.Close()
	b, err := json.Marshal(request{Script: lines})
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
	b := make([]byte, 64<<10)
	n, err := c.Read(b)
	if err != nil {
		return reply{}, err
	}
	if n == 0 {
		return reply{}, fmt.Errorf("node closed the connection")
	}
	var r reply
	if err := json.Unmarshal(b[:n], &r); err != nil {
		return reply{}, fmt.Errorf("bad reply from node: %w", err)
	}
	return r, nil
}
