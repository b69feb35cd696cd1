package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The exec protocol between a client (topo exec, topo up) and a node's init
// (init.c). It runs over a SOCK_SEQPACKET unix socket, one message per
// packet, so that message boundaries and the passed file descriptors stay
// together.
//
// A message is a sequence of records: a key, then as many values as the key
// takes, every one a NUL-terminated string (so any byte but NUL may appear
// in a value, and the C side parses it without copying). The config an init
// reads at start has the same form. Messages:
//
//	client -> init  run, argv ARG..., env KEY=VALUE..., extra KEY=VALUE...,
//	                [dir DIR], [tty ROWS COLS]; SCM_RIGHTS carries stdin,
//	                stdout and stderr unless tty
//	                or: script, line LINE...
//	init -> client  pid PID once started (with tty, SCM_RIGHTS carries the
//	                terminal's master), or error TEXT exit STATUS
//	client -> init  signal N, any number of times
//	init -> client  exit STATUS when the command ends
//
// env is the caller's environment; the node's own env and extra override it
// in that order. A client that goes away before its command ends takes the
// command's process group with it (SIGKILL), as a closed ssh session would.
// A script request (the lab's exec lines) is answered at once; its lines run
// one after another with /bin/sh -c, output to the node's log, and outlive
// the connection.

// maxMsg bounds one message, and the config (TOPO_MAX_MSG in init.h).
const maxMsg = 1 << 20

// maxRecords bounds the records of one message (TOPO_MAX_RECORDS).
const maxRecords = 65536

// records builds a message.
type records struct {
	b   []byte
	n   int
	err error
}

// add appends a record; a value with a NUL in it cannot be sent.
func (r *records) add(key string, vals ...string) {
	for _, v := range append([]string{key}, vals...) {
		if strings.IndexByte(v, 0) >= 0 && r.err == nil {
			r.err = fmt.Errorf("%s %q: a NUL byte cannot be passed to a node", key, v)
		}
		r.b = append(append(r.b, v...), 0)
	}
	r.n++
}

func (r *records) bytes() ([]byte, error) {
	switch {
	case r.err != nil:
		return nil, r.err
	case len(r.b) > maxMsg:
		return nil, fmt.Errorf("message for the node is %d bytes, more than %d", len(r.b), maxMsg)
	case r.n > maxRecords:
		return nil, fmt.Errorf("message for the node has %d records, more than %d", r.n, maxRecords)
	}
	return r.b, nil
}

// runRequest asks the init to run c; rows and cols size its terminal.
func runRequest(c Cmd, rows, cols uint16) ([]byte, error) {
	var r records
	r.add("run")
	for _, a := range c.Argv {
		r.add("argv", a)
	}
	for _, kv := range c.Env {
		r.add("env", kv)
	}
	for _, kv := range c.Extra {
		r.add("extra", kv)
	}
	if c.Dir != "" {
		r.add("dir", c.Dir)
	}
	if c.TTY {
		r.add("tty", strconv.Itoa(int(rows)), strconv.Itoa(int(cols)))
	}
	return r.bytes()
}

// scriptRequest asks the init to run lines in the background.
func scriptRequest(lines []string) ([]byte, error) {
	var r records
	r.add("script")
	for _, l := range lines {
		r.add("line", l)
	}
	return r.bytes()
}

func signalMsg(sig int) []byte {
	return []byte("signal\x00" + strconv.Itoa(sig) + "\x00")
}

// configRecords is cfg as the init reads it. Mounts come in the order of
// their descriptors (fdMounts on).
func configRecords(cfg Config) ([]byte, error) {
	var r records
	r.add("name", cfg.Name)
	r.add("lab", cfg.Lab)
	for _, kv := range cfg.Env {
		r.add("env", kv)
	}
	for _, s := range cfg.Sysctls {
		r.add("sysctl", s.Key, s.Value)
	}
	for _, m := range cfg.Mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		r.add("mount", m.Src, m.Dst, mode)
	}
	if cfg.Image != "" {
		r.add("image", cfg.Image)
	}
	if cfg.Forward {
		r.add("forward")
	}
	if cfg.NoIPv6 {
		r.add("noipv6")
	}
	if cfg.UserNS {
		r.add("userns")
	}
	if cfg.ClockOffset != 0 {
		r.add("clock", strconv.FormatInt(int64(cfg.ClockOffset/time.Second), 10))
	}
	return r.bytes()
}

type reply struct {
	PID   int
	Exit  *int
	Error string
}

// parseReply reads an init's reply.
func parseReply(b []byte) (reply, error) {
	var r reply
	if len(b) > 0 && b[0] == '{' {
		// The JSON of the Go init that came before.
		return r, errors.New("the node's init is from an older topo: restart the lab")
	}
	if len(b) == 0 || b[len(b)-1] != 0 {
		return r, errors.New("bad reply from node: not NUL-terminated")
	}
	f := strings.Split(string(b[:len(b)-1]), "\x00")
	if len(f)%2 != 0 {
		return r, errors.New("bad reply from node: a key without its value")
	}
	for i := 0; i < len(f); i += 2 {
		k, v := f[i], f[i+1]
		switch k {
		case "pid", "exit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return r, fmt.Errorf("bad reply from node: %s %q", k, v)
			}
			if k == "pid" {
				r.PID = n
			} else {
				r.Exit = &n
			}
		case "error":
			r.Error = v
		default:
			return r, fmt.Errorf("bad reply from node: unknown key %q", k)
		}
	}
	return r, nil
}
