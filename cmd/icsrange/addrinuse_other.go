//go:build !windows

package main

import "syscall"

// errAddrInUse is what listening on a taken port fails with.
var errAddrInUse error = syscall.EADDRINUSE
