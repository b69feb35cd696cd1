package node

// The exec protocol between a client (topo exec, topo up) and a node's init.
// It runs over a SOCK_SEQPACKET unix socket, one JSON document per message,
// so that message boundaries and the passed file descriptors stay together.
//
//	client -> init  request, with SCM_RIGHTS carrying stdin, stdout, stderr
//	init -> client  reply{PID} once started, or reply{Error, Exit}
//	client -> init  signal{Signal} any number of times
//	init -> client  reply{Exit} when the command ends
//
// A client that goes away before its command ends takes the command's process
// group with it (SIGKILL), as a closed ssh session would. Detached requests
// (the lab's exec lines) are answered at once and outlive the connection.

// maxMsg bounds one message; argv and environment of a command fit well.
const maxMsg = 1 << 20

type request struct {
	Argv []string `json:"argv,omitempty"`
	// Env is the caller's environment; the node's own Env and Extra
	// override it in that order.
	Env   []string `json:"env,omitempty"`
	Extra []string `json:"extra,omitempty"`
	Dir   string   `json:"dir,omitempty"`
	// TTY asks for a pseudo-terminal of Rows x Cols: the command gets its
	// slave as stdio and controlling terminal, the client the master (in
	// the reply, SCM_RIGHTS); the request then carries no fds.
	TTY  bool   `json:"tty,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	// Script, when set, is run line by line with /bin/sh -c in the
	// background, output to the node's log; the request carries no fds.
	Script []string `json:"script,omitempty"`
}

type reply struct {
	PID   int    `json:"pid,omitempty"`
	Exit  *int   `json:"exit,omitempty"`
	Error string `json:"error,omitempty"`
}

type signalMsg struct {
	Signal int `json:"signal"`
}
