package topo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/topo-lab/topo/node"
)

// CleanReport says what Clean removed.
type CleanReport struct {
	// Labs whose state folder was removed.
	Labs []string `json:"labs"`
	// Inits is the number of node inits ended.
	Inits int `json:"inits"`
}

// Clean ends every node init of topo's on this machine, of every lab (or
// only of lab, when not ""), and removes their state. Labs under the state
// root are taken down; an init whose state folder is gone is a leftover and
// is ended too. Inits are recognised by their command line and by being
// PID 1 of their own PID namespace, so nothing that only looks like one is
// touched; a live lab of another state root (TOPO_STATE_DIR) is left alone.
// Interfaces go with the nodes' network namespaces.
func Clean(ctx context.Context, lab string, opt Options) (CleanReport, error) {
	root := opt.root()
	var rep CleanReport
	var errs []error
	all, err := node.FindAllInits()
	if err != nil {
		errs = append(errs, err)
	}
	names, err := Labs(root)
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range names {
		if lab != "" && name != lab {
			continue
		}
		dir := labDir(root, name)
		for _, in := range all {
			if in.Dir == filepath.Join(dir, "nodes") && in.Name != "" {
				rep.Inits++
			}
		}
		var procs []node.Proc
		if st, err := ReadState(root, name); err == nil {
			if st.Init.PID > 0 {
				procs = append(procs, st.Init)
			}
			for _, p := range st.Nodes {
				procs = append(procs, p)
			}
		}
		if err := removeLab(ctx, dir, procs); err != nil {
			errs = append(errs, fmt.Errorf("lab %s: %w", name, err))
			continue
		}
		rep.Labs = append(rep.Labs, name)
	}
	var orphans []node.Proc
	for _, in := range all {
		// Dir is ROOT/LAB/nodes.
		name := filepath.Base(filepath.Dir(in.Dir))
		if lab != "" && name != lab {
			continue
		}
		if _, err := os.Stat(in.Dir); err == nil {
			continue // taken down above, or a live lab of another root
		}
		orphans = append(orphans, in.Proc)
		if in.Name != "" {
			rep.Inits++
		}
		if !slices.Contains(rep.Labs, name) {
			rep.Labs = append(rep.Labs, name)
		}
	}
	if err := node.Kill(ctx, orphans); err != nil {
		errs = append(errs, err)
	}
	sort.Strings(rep.Labs)
	return rep, errors.Join(errs...)
}
