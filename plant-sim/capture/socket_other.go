//go:build !linux

package capture

import (
	"context"
	"errors"
	"runtime"
)

// Capture is an open packet socket feeding a Ring; only Linux has one.
type Capture struct {
	*Ring
}

var errUnsupported = errors.New("packet capture needs Linux (this is " + runtime.GOOS + ")")

// Open needs Linux.
func Open(cfg Config) (*Capture, error) { return nil, errUnsupported }

// Run needs Linux.
func (c *Capture) Run(ctx context.Context) error { return errUnsupported }

// KernelDropped needs Linux.
func (c *Capture) KernelDropped() uint64 { return 0 }

// Close needs Linux.
func (c *Capture) Close() error { return errUnsupported }
