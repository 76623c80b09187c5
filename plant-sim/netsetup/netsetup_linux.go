//go:build linux

package netsetup

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddRoutes adds each route in this network namespace; a route that is
// already there is replaced.
func AddRoutes(routes []Route) error {
	for _, rt := range routes {
		dst := &net.IPNet{IP: rt.Dst.Addr().AsSlice(), Mask: net.CIDRMask(rt.Dst.Bits(), rt.Dst.Addr().BitLen())}
		r := &netlink.Route{Dst: dst, Gw: rt.Gw.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return fmt.Errorf("adding route %s via %s needs CAP_NET_ADMIN: %w", rt.Dst, rt.Gw, err)
			}
			if errors.Is(err, unix.ENETUNREACH) {
				return fmt.Errorf("adding route %s via %s: the gateway is on none of this container's networks: %w", rt.Dst, rt.Gw, err)
			}
			return fmt.Errorf("adding route %s via %s: %w", rt.Dst, rt.Gw, err)
		}
	}
	return nil
}

// ErrNeedsStatic is returned when capabilities can't be dropped on every
// thread: the Go runtime only does that in binaries without cgo.
var ErrNeedsStatic = errors.New("dropping capabilities on every thread needs a binary built with CGO_ENABLED=0")

// DropCapabilities drops every capability but keep (capability numbers,
// e.g. unix.CAP_NET_ADMIN) from every thread: the bounding set when
// CAP_SETPCAP allows it, the ambient set, then effective, permitted and
// inheritable; and it sets no_new_privs, so no exec regains any. It
// reports whether the bounding set was cut down to keep too.
//
// Capabilities are per thread in Linux and a Go program has many, so each
// change goes through syscall.AllThreadsSyscall (unix.Capset would change
// the calling thread only).
func DropCapabilities(keep ...int) (boundingDropped bool, err error) {
	kept := uint64(0)
	for _, c := range keep {
		kept |= 1 << uint(c)
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, 0, 0); e == syscall.ENOTSUP {
		return false, ErrNeedsStatic
	}
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, fmt.Errorf("capget: %w", err)
	}
	permitted := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	effective := uint64(data[0].Effective) | uint64(data[1].Effective)<<32

	// The bounding set: dropping from it needs CAP_SETPCAP.
	boundingDropped = true
	last := lastCap()
	for c := 0; c <= last; c++ {
		if kept&(1<<uint(c)) != 0 {
			continue
		}
		if r, _, _ := syscall.Syscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0); r == 0 {
			continue // not in the bounding set
		}
		_, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		if e == 0 {
			continue
		}
		if e == syscall.EINVAL {
			break // beyond what this kernel knows
		}
		if e == syscall.EPERM && effective&(1<<unix.CAP_SETPCAP) == 0 {
			boundingDropped = false
			break
		}
		return false, fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != syscall.EINVAL {
		return false, fmt.Errorf("clear ambient capabilities: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return false, fmt.Errorf("set no_new_privs: %w", e)
	}
	keepNow := kept & permitted
	data[0] = unix.CapUserData{Effective: uint32(keepNow), Permitted: uint32(keepNow)}
	data[1] = unix.CapUserData{Effective: uint32(keepNow >> 32), Permitted: uint32(keepNow >> 32)}
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return false, fmt.Errorf("capset: %w", e)
	}
	return boundingDropped, nil
}

// lastCap is the highest capability number this kernel knows.
func lastCap() int {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n < 64 {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// Current reads the process's capability state from /proc/self/status.
func Current() (Caps, error) {
	return readStatus("/proc/self/status")
}

// CurrentOf reads another process's capability state.
func CurrentOf(pid int) (Caps, error) {
	return readStatus(fmt.Sprintf("/proc/%d/status", pid))
}

func readStatus(path string) (Caps, error) {
	f, err := os.Open(path)
	if err != nil {
		return Caps{}, err
	}
	defer f.Close()
	var c Caps
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		var dst *uint64
		switch k {
		case "CapInh":
			dst = &c.Inheritable
		case "CapPrm":
			dst = &c.Permitted
		case "CapEff":
			dst = &c.Effective
		case "CapBnd":
			dst = &c.Bounding
		case "CapAmb":
			dst = &c.Ambient
		case "NoNewPrivs":
			c.NoNewPrivs = v == "1"
			continue
		default:
			continue
		}
		n, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			return Caps{}, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		*dst = n
	}
	return c, sc.Err()
}
