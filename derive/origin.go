package derive

import (
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

// Branches of an account key: receive addresses are <key>/0/i, change
// addresses <key>/1/i.
const (
	BranchReceive uint32 = 0
	BranchChange  uint32 = 1
)

// Origin is where one key of a Bitcoin deriver comes from: what a PSBT's
// PSBT_IN_BIP32_DERIVATION / PSBT_OUT_BIP32_DERIVATION records so that a
// wallet holding the seed (Sparrow, Electrum, Bitcoin Core, a hardware
// wallet) recognises the input as its own and signs it.
type Origin struct {
	Address string
	// Script is the output script (scriptPubKey) of Address.
	Script []byte
	// PubKey is the compressed public key (33 bytes).
	PubKey []byte
	// Fingerprint is the first 4 bytes of HASH160 of the master key when the
	// descriptor gave a key origin ([d90c6a4f/84h/1h/0h]tpub…); otherwise the
	// fingerprint of the account key itself, and Path starts there.
	Fingerprint [4]byte
	// Path is the derivation path from the fingerprint's key, hardened steps
	// with 2^31 added.
	Path []uint32
	// FromMaster is true when Fingerprint is the master key's (the key
	// origin was given).
	FromMaster bool
	// Type is the script type ("p2wpkh", "p2pkh", "p2sh-p2wpkh", "p2tr").
	Type string
}

// Originer is implemented by Bitcoin Derivers (ParseBitcoin's): the origin
// of the key at index i of a branch (BranchReceive or BranchChange).
type Originer interface {
	Origin(branch, i uint32) (Origin, error)
}

var _ Originer = (*bitcoinDeriver)(nil)

// branchChain returns the public chain of a branch: the receive chain the
// key was given with, or the same key with its last step replaced by 1.
func (d *bitcoinDeriver) branchChain(branch uint32) (*pubChain, error) {
	switch branch {
	case BranchReceive:
		return d.chain, nil
	case BranchChange:
	default:
		return nil, fmt.Errorf("%w: branch %d (0 receive, 1 change)", ErrIndex, branch)
	}
	d.changeOnce.Do(func() {
		if len(d.expr.steps) == 0 {
			d.changeErr = fmt.Errorf("%w: the descriptor has no receive step (…/0/*) to derive a change branch from", ErrUnsupported)
			return
		}
		k := d.expr.key
		steps := d.changeSteps()
		for _, p := range steps {
			c, err := k.Derive(p)
			if err != nil {
				d.changeErr = fmt.Errorf("%w: derive change /%d: %v", ErrInvalidKey, p, err)
				return
			}
			k = c
		}
		d.change, d.changeErr = newPubChain(k)
	})
	return d.change, d.changeErr
}

// changeSteps are the key's steps with the last one (the receive branch)
// replaced by the change branch 1.
func (d *bitcoinDeriver) changeSteps() []uint32 {
	steps := append([]uint32(nil), d.expr.steps...)
	steps[len(steps)-1] = BranchChange
	return steps
}

// Origin implements Originer.
func (d *bitcoinDeriver) Origin(branch, i uint32) (Origin, error) {
	pc, err := d.branchChain(branch)
	if err != nil {
		return Origin{}, err
	}
	pub, err := pc.child(i)
	if err != nil {
		return Origin{}, err
	}
	addr, err := encodeAddress(d.script, pub, d.net.params)
	if err != nil {
		return Origin{}, fmt.Errorf("encode address %d: %w", i, err)
	}
	a, err := btcutil.DecodeAddress(addr, d.net.params)
	if err != nil {
		return Origin{}, fmt.Errorf("decode address %s: %w", addr, err)
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		return Origin{}, fmt.Errorf("script of %s: %w", addr, err)
	}
	o := Origin{Address: addr, Script: script, PubKey: pub.SerializeCompressed(), Type: d.script.String()}
	steps := d.expr.steps
	if branch == BranchChange {
		steps = d.changeSteps()
	}
	if d.expr.fingerprint != "" {
		b, err := hex.DecodeString(d.expr.fingerprint)
		if err != nil || len(b) != 4 {
			return Origin{}, fmt.Errorf("%w: fingerprint %q", ErrInvalidKey, d.expr.fingerprint)
		}
		copy(o.Fingerprint[:], b)
		o.FromMaster = true
		o.Path = append(o.Path, d.expr.origin...)
	} else {
		pk, err := d.expr.key.ECPubKey()
		if err != nil {
			return Origin{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		copy(o.Fingerprint[:], btcutil.Hash160(pk.SerializeCompressed())[:4])
	}
	o.Path = append(o.Path, steps...)
	o.Path = append(o.Path, i)
	return o, nil
}
