// The contract between the Go side of package node and the node init in
// init.c. init_cgo_linux.go checks at compile time that the Go constants
// agree with these.

#ifndef TOPO_NODE_INIT_H
#define TOPO_NODE_INIT_H

// The descriptors an init is started with (see start_linux.go).
#define TOPO_FD_READY 3    // the init writes "ok" or an error, then closes it
#define TOPO_FD_CONFIG 4   // the Config, as records (see proto.go)
#define TOPO_FD_DIR 5      // an O_PATH descriptor of the node folder, where
                           // the init creates its log on its first line
                           // (a userns node is given its log as stdout)
#define TOPO_FD_HOSTS 6    // the content of its /etc/hosts, to read
#define TOPO_FD_HOSTNAME 7 // unused (kept open on /dev/null)
#define TOPO_FD_MOUNTS 8   // one detached mount per "mount" record, then,
                           // with an image, the image and the node's
                           // FSPath folder

// TOPO_SOCK_NAME is the abstract socket the init serves commands on, in
// the node's own network namespace: a client enters that namespace to
// reach it (which takes the host's root), and the init answers no process
// of its own node. No file is made for it.
#define TOPO_SOCK_NAME "topo-node-init"

// TOPO_MAX_MSG bounds one protocol message and the config.
#define TOPO_MAX_MSG (1 << 20)

// TOPO_MAX_RECORDS bounds the records of one message or of the config.
#define TOPO_MAX_RECORDS 65536

#endif
