package pcp

import (
	"crypto/rand"
	"encoding/hex"
)

// Nonce is the 96-bit mapping nonce of MAP and PEER (RFC 6887 §11.1). The
// client picks a random one per mapping and must send the same one to renew
// or delete it: servers use it to tell the mapping's owner (miniupnpd keeps
// it in the rule's description and deletes only on an exact match).
type Nonce [12]byte

// NewNonce returns a nonce from crypto/rand.
func NewNonce() Nonce {
	var n Nonce
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails (Go 1.24+)
	return n
}

// IsZero reports whether n is all zeros (not yet chosen).
func (n Nonce) IsZero() bool { return n == Nonce{} }

// String returns the nonce in hex.
func (n Nonce) String() string { return hex.EncodeToString(n[:]) }

// MarshalText encodes the nonce in hex, for state files.
func (n Nonce) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText decodes a nonce from 24 hex digits.
func (n *Nonce) UnmarshalText(b []byte) error {
	var v Nonce
	if len(b) != 2*len(v) {
		return ErrMalformed
	}
	if _, err := hex.Decode(v[:], b); err != nil {
		return ErrMalformed
	}
	*n = v
	return nil
}
