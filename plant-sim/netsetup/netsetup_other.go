//go:build !linux

package netsetup

import (
	"errors"
	"runtime"
)

var errUnsupported = errors.New("routes and capability dropping need Linux (this is " + runtime.GOOS + ")")

// ErrNeedsStatic is returned on Linux when capabilities can't be dropped on
// every thread.
var ErrNeedsStatic = errors.New("dropping capabilities on every thread needs a binary built with CGO_ENABLED=0")

// AddRoutes needs Linux.
func AddRoutes(routes []Route) error {
	if len(routes) == 0 {
		return nil
	}
	return errUnsupported
}

// DropCapabilities needs Linux.
func DropCapabilities(keep ...int) (bool, error) { return false, errUnsupported }

// Current needs Linux.
func Current() (Caps, error) { return Caps{}, errUnsupported }

// CurrentOf needs Linux.
func CurrentOf(pid int) (Caps, error) { return Caps{}, errUnsupported }
