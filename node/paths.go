package node

import "path/filepath"

// The files of a node live in the lab's node folder, named after the node.

// LogPath is the node's log: its init's messages and its exec lines' output.
func LogPath(dir, name string) string { return filepath.Join(dir, name+".log") }

// SockPath is the socket the node's init serves commands on.
func SockPath(dir, name string) string { return filepath.Join(dir, name+".sock") }
