//go:build cgo && pcapdynamic

package capture

// #cgo LDFLAGS: -lpcap
import "C"
