//go:build !linux

package router

import (
	"errors"
	"runtime"
)

var errUnsupported = errors.New("the router needs Linux nftables (this is " + runtime.GOOS + ")")

// NFT applies rule sets to nftables; only Linux has it.
type NFT struct{}

// NewNFT needs Linux.
func NewNFT(netnsFD int) (*NFT, error) { return nil, errUnsupported }

// Apply needs Linux.
func (n *NFT) Apply(rules []Rule) error { return errUnsupported }

// Remove needs Linux.
func (n *NFT) Remove() error { return errUnsupported }

// Close needs Linux.
func (n *NFT) Close() error { return nil }

// EnableForwarding needs Linux.
func EnableForwarding() error { return errUnsupported }

// DisableForwarding needs Linux.
func DisableForwarding() error { return errUnsupported }
