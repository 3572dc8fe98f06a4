// Package derive turns a watch-only key into receive addresses.
//
// It owns:
//   - Bitcoin extended public keys with SLIP-132 version bytes (xpub/ypub/zpub on
//     mainnet, tpub/upub/vpub on testnet, signet and regtest), mapped to P2PKH,
//     P2SH-P2WPKH and P2WPKH;
//   - BIP380 output descriptors pkh(), sh(wpkh()), wpkh() and tr() (BIP86 key-path
//     only) over one ranged xpub/tpub, with optional key origin and the #checksum
//     (DescriptorChecksum);
//   - EVM receive addresses m/44'/60'/N'/0/i from an account-level xpub, EIP-55
//     checksummed (ChecksumAddress);
//   - refusing private material (CheckNotPrivate): extended private keys, WIF,
//     64-hex keys and seed phrases, because payd is watch-only.
//
// Descriptors accepted: pkh(KEY), sh(wpkh(KEY)), wpkh(KEY), tr(KEY), with
// KEY = [fingerprint/origin/path]xpub…/steps/*. The origin is optional, with
// h, H or ' as the hardened marker. The key is an xpub (mainnet) or a tpub
// (other networks). Steps are unhardened numbers; one of them may be a
// multipath group <0;1>, whose first element is used. The last step must be
// the unhardened wildcard *. An optional #checksum is verified.
//
// The key handed to ParseBitcoin or ParseEVM is an ACCOUNT-level key
// (m/84'/0'/0', m/44'/60'/0', …); receive addresses are its external chain
// <key>/0/i. A Deriver caches <key>/0, so Address(i) costs one public child
// derivation (tens of microseconds) and is safe for concurrent use.
//
// derive imports nothing of payd's: only btcd (hdkeychain, chaincfg, btcutil,
// txscript, btcec) and go-ethereum's keccak. It does no I/O, keeps no state
// beyond the parsed key, and does not know which addresses were used; the gap
// limit and index bookkeeping belong to the caller. It does not support
// multisig, script-path taproot, change addresses as payment targets, or any
// private-key operation.
package derive
