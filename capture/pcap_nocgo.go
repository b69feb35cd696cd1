//go:build !cgo

package capture

import "golang.org/x/net/bpf"

func pcapCompile(expr string, dlt, snaplen int) ([]bpf.RawInstruction, error) {
	return nil, ErrNoFilterCompiler
}
