package derive

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/ethereum/go-ethereum/crypto"
)

// evmDepth is the depth of an account-level key m/44'/60'/N'.
const evmDepth = 3

// ParseEVM parses an account-level extended public key for m/44'/60'/N'
// (an "xpub…" at depth 3 with a hardened child number) and returns a Deriver
// of the MetaMask-style receive addresses m/44'/60'/N'/0/i, EIP-55
// checksummed. BIP32 keys do not record their path: the purpose and coin type
// (44', 60') are assumed, the depth and account number are checked.
func ParseEVM(xpub string) (Deriver, error) {
	s := strings.TrimSpace(xpub)
	if len(s) > maxKeyLen {
		return nil, fmt.Errorf("%w: %d characters is too long for an extended key", ErrInvalidKey, len(s))
	}
	if err := CheckNotPrivate(s); err != nil {
		return nil, err
	}
	k, v, err := decodeExtendedKey(s)
	if err != nil {
		return nil, err
	}
	if v.prefix != "xpub" {
		return nil, fmt.Errorf("%w: EVM keys are plain xpub (m/44'/60'/0'), got %s…", ErrUnsupported, v.prefix)
	}
	if k.Depth() != evmDepth || k.ChildIndex() < hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("%w: expected the account key m/44'/60'/N' (depth 3, hardened), got depth %d child %s; export the account-level xpub",
			ErrUnsupported, k.Depth(), formatStep(k.ChildIndex(), "'"))
	}
	chain, err := k.Derive(0)
	if err != nil {
		return nil, fmt.Errorf("%w: derive /0: %v", ErrInvalidKey, err)
	}
	pc, err := newPubChain(chain)
	if err != nil {
		return nil, err
	}
	return &evmDeriver{
		chain: pc,
		path:  "m/44'/60'/" + formatStep(k.ChildIndex(), "'") + "/0/",
		key:   s,
	}, nil
}

// evmDeriver derives m/44'/60'/N'/0/i addresses from the cached m/44'/60'/N'/0.
type evmDeriver struct {
	chain *pubChain
	path  string // "m/44'/60'/0'/0/"
	key   string
}

// Address implements Deriver.
func (d *evmDeriver) Address(i uint32) (string, string, error) {
	pub, err := d.chain.child(i)
	if err != nil {
		return "", "", err
	}
	// The address is the last 20 bytes of keccak256(X || Y).
	h := crypto.Keccak256(pub.SerializeUncompressed()[1:])
	return checksumHex(h[12:]), d.path + strconv.FormatUint(uint64(i), 10), nil
}

// Type implements Deriver.
func (d *evmDeriver) Type() string { return scriptEVM.String() }

// Key implements Deriver: the account xpub.
func (d *evmDeriver) Key() string { return d.key }

// ChecksumAddress returns the EIP-55 mixed-case form of a 20-byte hex
// address given with or without 0x, in any case. It fails when addr is not
// 40 hex digits. It does not verify an existing mixed-case checksum; compare
// the result with the input for that.
func ChecksumAddress(addr string) (string, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(addr, "0x"), "0X")
	if len(h) != 40 || !isHex(h) {
		return "", fmt.Errorf("%w: an EVM address is 40 hex digits after 0x", ErrInvalidKey)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return checksumHex(b), nil
}

// checksumHex encodes 20 bytes per EIP-55: a hex letter is upper-cased when
// the matching nibble of keccak256(lower-case hex) is ≥ 8.
func checksumHex(addr []byte) string {
	lower := hex.EncodeToString(addr)
	hash := crypto.Keccak256([]byte(lower))
	out := []byte("0x" + lower)
	for i := 0; i < len(lower); i++ {
		nibble := hash[i/2] >> 4
		if i%2 == 1 {
			nibble = hash[i/2] & 0x0f
		}
		if c := lower[i]; c >= 'a' && nibble >= 8 {
			out[i+2] = c - 'a' + 'A'
		}
	}
	return string(out)
}
