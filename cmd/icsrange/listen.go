package main

import (
	"errors"
	"fmt"
	"net"
)

// listenScoreboard listens on the scoreboard's address. A port another
// program holds (a second exercise, a dev server on 8080) is the first
// thing a new user meets, so its error says how to pick another.
func listenScoreboard(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, errAddrInUse) {
		return nil, fmt.Errorf("scoreboard: %s is already in use by another program; choose another address with --listen HOST:PORT (with make run: make run LISTEN=127.0.0.1:8081): %w", addr, err)
	}
	return nil, fmt.Errorf("scoreboard: %w", err)
}
