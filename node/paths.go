package node

import "path/filepath"

// The files of a node live in the lab's node folder, named after the node.

// LogPath is the node's log: its init's messages and its exec lines' output.
// The init makes it when it first has a line to write: a node whose log
// does not exist has written nothing.
func LogPath(dir, name string) string { return filepath.Join(dir, name+".log") }
