package derive

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these with the
// detail (never with the secret itself), so callers test them with errors.Is.
var (
	// ErrPrivateKey means the input holds private key material (an extended
	// private key, a WIF key, a 64-hex key or a seed phrase). payd is
	// watch-only and never accepts it.
	ErrPrivateKey = errors.New("private key material refused: payd is watch-only, give the account extended public key (xpub/ypub/zpub, tpub/upub/vpub) or a descriptor over one")

	// ErrNetworkMismatch means the key belongs to another Bitcoin network than
	// the one configured (a mainnet zpub on regtest, a tpub on mainnet).
	ErrNetworkMismatch = errors.New("key is for another network")

	// ErrUnknownNetwork means the network name is not one of mainnet, testnet,
	// signet, regtest.
	ErrUnknownNetwork = errors.New("unknown network")

	// ErrChecksum means a descriptor's #checksum is malformed or does not match.
	ErrChecksum = errors.New("descriptor checksum mismatch")

	// ErrMultisig means the key or descriptor is multisig (Ypub/Zpub/Upub/Vpub,
	// multi(), sortedmulti()), which payd does not support.
	ErrMultisig = errors.New("multisig is not supported")

	// ErrUnsupported means a well-formed input payd cannot derive from: a
	// descriptor function other than pkh/sh(wpkh)/wpkh/tr, a non-ranged or
	// hardened-wildcard descriptor, a single public key, a taproot script tree.
	ErrUnsupported = errors.New("unsupported key or descriptor")

	// ErrInvalidKey means the input is not a parsable extended public key or
	// descriptor (bad base58, bad key checksum, unknown version bytes, bad path).
	ErrInvalidKey = errors.New("invalid key")

	// ErrIndex means a receive index is out of range (≥ 2^31, the hardened range)
	// or is one of the astronomically rare indices BIP32 declares invalid.
	ErrIndex = errors.New("invalid address index")
)
