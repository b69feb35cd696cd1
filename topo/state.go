package topo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/topo-lab/topo/node"
)

// DefaultStateDir is where running labs keep their state unless
// TOPO_STATE_DIR says otherwise.
const DefaultStateDir = "/run/topo"

// StateRoot returns the folder that holds one folder per running lab.
func StateRoot() string {
	if d := os.Getenv("TOPO_STATE_DIR"); d != "" {
		// Absolute: node inits and schedules do not run in our folder.
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	return DefaultStateDir
}

// Phases of a lab's life, as recorded in its state.
const (
	PhaseStarting = "starting" // topo up is (or was, if it died) at work
	PhaseUp       = "up"
	PhaseStopping = "stopping"
)

// State is a running lab as recorded in ROOT/LAB/lab.json.
type State struct {
	Lab     *Lab      `json:"lab"`
	Phase   string    `json:"phase"`
	Created time.Time `json:"created"`
	// Nodes maps node names to their inits.
	Nodes map[string]node.Proc `json:"nodes"`
	// Init is the lab's init (node.LabInit), in whose PID namespace every
	// node is: ending it ends the whole lab. Zero in a state written by a
	// topo from before it had one.
	Init node.Proc `json:"init"`

	dir string
}

// Dir is the lab's state folder.
func (s *State) Dir() string { return s.dir }

// NodeDir is the folder of the lab's node files (logs, sockets).
func (s *State) NodeDir() string { return filepath.Join(s.dir, "nodes") }

// labDir and nodeDir name a lab's folders under root.
func labDir(root, lab string) string  { return filepath.Join(root, lab) }
func nodeDir(root, lab string) string { return filepath.Join(root, lab, "nodes") }

const stateFile = "lab.json"

// save writes the state atomically: a reader sees the old or the new file,
// never a part.
func (s *State) save() error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, stateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// initsFile lists a running lab's node inits, a line "NODE PID START" each:
// what topo exec reads to reach a node, without parsing the whole state.
const initsFile = "inits"

func writeInits(dir string, nodes map[string]node.Proc) error {
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b []byte
	for _, n := range names {
		p := nodes[n]
		b = fmt.Appendf(b, "%s %d %d\n", n, p.PID, p.Start)
	}
	tmp := filepath.Join(dir, initsFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, initsFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// lockFile serialises up and down of a lab (lock); schedFolder holds its
// link schedules (schedDir).
const (
	lockFile    = "lock"
	schedFolder = "sched"
)

// labInitFile holds "PID START" of the lab init of a lab that came all the
// way up and whose nodes keep no files in its state folder (no image
// overlays): such a lab is ended by asking its lab init (node.EndLab),
// which ends the nodes after down has returned. Down reads it instead of
// the whole state.
const labInitFile = "labinit"

func writeLabInit(dir string, p node.Proc) error {
	tmp := filepath.Join(dir, labInitFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", p.PID, p.Start), 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, labInitFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// readLabInit reads a lab's labinit file.
func readLabInit(dir string) (node.Proc, bool) {
	b, err := os.ReadFile(filepath.Join(dir, labInitFile))
	if err != nil {
		return node.Proc{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return node.Proc{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return node.Proc{}, false
	}
	return node.Proc{PID: pid, Start: start}, true
}

// readInit finds a node's init in a lab's inits file.
func readInit(root, lab, name string) (node.Proc, bool) {
	b, err := os.ReadFile(filepath.Join(labDir(root, lab), initsFile))
	if err != nil {
		return node.Proc{}, false
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte(name+" ")) {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) != 3 || f[0] != name {
			continue
		}
		pid, err1 := strconv.Atoi(f[1])
		start, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return node.Proc{}, false
		}
		return node.Proc{PID: pid, Start: start}, true
	}
	return node.Proc{}, false
}

// ErrNoLab is returned when a named lab has no state.
var ErrNoLab = errors.New("no such lab")

// ReadState reads the state of the lab called name under root.
func ReadState(root, name string) (*State, error) {
	dir := labDir(root, name)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			// A folder without a state: topo up died before writing it.
			return &State{Lab: &Lab{Name: name}, Phase: PhaseStarting, dir: dir}, nil
		}
		return nil, fmt.Errorf("lab %q: %w (topo ls lists the running labs)", name, ErrNoLab)
	}
	if err != nil {
		return nil, err
	}
	s := &State{dir: dir}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("lab %q: read state %s: %w", name, filepath.Join(dir, stateFile), err)
	}
	if s.Lab == nil {
		s.Lab = &Lab{Name: name}
	}
	return s, nil
}

// Labs returns the names of the labs under root, sorted.
func Labs(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
