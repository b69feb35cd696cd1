package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/topo-lab/topo/topo"
	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine draws "stage done/total" on one line of a terminal, at most
// every 50ms; it draws nothing when w is not a terminal.
type progressLine struct {
	w     io.Writer
	on    bool
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgress(f *os.File) *progressLine {
	return &progressLine{w: f, on: isTerminal(f)}
}

func (p *progressLine) update(pr topo.Progress) {
	if os.Getenv("TOPO_TRACE") != "" && (pr.Done == 0 || pr.Done == pr.Total) {
		fmt.Fprintf(os.Stderr, "%s %s %d/%d\n", time.Now().Format("15:04:05.000"), pr.Stage, pr.Done, pr.Total)
	}
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Done != pr.Total && time.Since(p.last) < 50*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[K%s %d/%d", pr.Stage, pr.Done, pr.Total)
	p.drawn = true
}

// clear removes the line before the final message.
func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
