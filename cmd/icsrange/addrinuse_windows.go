package main

import "golang.org/x/sys/windows"

// errAddrInUse is what listening on a taken port fails with: Winsock's
// code, not the POSIX one syscall invents for Windows.
var errAddrInUse error = windows.WSAEADDRINUSE
