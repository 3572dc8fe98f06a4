package derive

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// pubChain derives the non-hardened children of one extended public key
// (BIP32 CKDpub) faster than hdkeychain: the parent point is parsed once,
// so a child costs one HMAC-SHA512, one base-point multiplication, one
// point addition and one inversion — no square roots (hdkeychain
// decompresses the parent, and ECPubKey the child, on every call).
// BIP32's test vectors and an hdkeychain cross-check run against it.
type pubChain struct {
	pub   [33]byte            // compressed parent public key
	point btcec.JacobianPoint // the parent, affine (Z = 1)
	hmacs sync.Pool           // HMAC-SHA512 keyed with the chain code
}

func newPubChain(k *hdkeychain.ExtendedKey) (*pubChain, error) {
	c := &pubChain{}
	pk, err := k.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalidKey, err)
	}
	copy(c.pub[:], pk.SerializeCompressed())
	pk.AsJacobian(&c.point)
	code := k.ChainCode()
	c.hmacs.New = func() any { return hmac.New(sha512.New, code) }
	return c, nil
}

// child returns the public key of non-hardened child i.
func (c *pubChain) child(i uint32) (*btcec.PublicKey, error) {
	if i >= hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("%w: %d is in the hardened range (≥ 2^31)", ErrIndex, i)
	}
	var data [37]byte
	copy(data[:33], c.pub[:])
	binary.BigEndian.PutUint32(data[33:], i)
	mac := c.hmacs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(data[:])
	var sum [64]byte
	mac.Sum(sum[:0])
	c.hmacs.Put(mac)

	var il btcec.ModNScalar
	if overflow := il.SetByteSlice(sum[:32]); overflow || il.IsZero() {
		return nil, fmt.Errorf("%w: index %d is invalid per BIP32, skip it", ErrIndex, i)
	}
	var ilG, res btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&il, &ilG)
	btcec.AddNonConst(&ilG, &c.point, &res)
	if (res.X.IsZero() && res.Y.IsZero()) || res.Z.IsZero() {
		return nil, fmt.Errorf("%w: index %d is invalid per BIP32, skip it", ErrIndex, i)
	}
	res.ToAffine()
	return btcec.NewPublicKey(&res.X, &res.Y), nil
}
