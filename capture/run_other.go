//go:build !linux

package capture

import (
	"context"
	"errors"
	"io"
)

// Run needs Linux: AF_PACKET sockets and network namespaces exist nowhere else.
func Run(ctx context.Context, srcs []Source, opt Options, w io.Writer) (Stats, error) {
	if err := opt.validate(len(srcs)); err != nil {
		return Stats{}, err
	}
	return Stats{}, errors.New("capture: packet capture needs Linux")
}
