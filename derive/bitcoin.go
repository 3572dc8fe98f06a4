package derive

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// Deriver derives receive addresses from a watch-only key. Implementations
// are immutable and safe for concurrent use.
type Deriver interface {
	// Address returns the address at receive index i (0 ≤ i < 2^31) and its
	// derivation path: from the master ("m/84'/0'/0'/0/5") when a descriptor
	// gave the key origin, else relative to the given key ("…/0/5"); for EVM
	// always "m/44'/60'/N'/0/i". A BIP32-invalid index (probability < 2^-127)
	// returns ErrIndex; skip it.
	Address(i uint32) (addr string, path string, err error)
	// Type names the script type: "p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr",
	// "evm".
	Type() string
	// Key returns a canonical form of what is derived: for Bitcoin a BIP380
	// descriptor with checksum (a zpub becomes wpkh(xpub…/0/*)#…, ready for
	// Bitcoin Core's importdescriptors); for EVM the account xpub. Two Derivers
	// with equal Key derive the same addresses, so callers can store it to
	// notice a changed key.
	Key() string
}

// maxKeyLen bounds the input; a descriptor over one key is ~200 characters.
const maxKeyLen = 1024

// ParseBitcoin parses a watch-only Bitcoin key for network ("mainnet",
// "testnet", "signet" or "regtest"): either an account-level extended public
// key (xpub/ypub/zpub, tpub/upub/vpub; addresses are <key>/0/i) or a ranged
// descriptor pkh(KEY), sh(wpkh(KEY)), wpkh(KEY) or tr(KEY) where KEY is
// [origin]xpub…/0/* (the accepted forms are listed in the package doc).
// Surrounding white space is ignored. Errors wrap ErrPrivateKey,
// ErrNetworkMismatch, ErrUnknownNetwork, ErrChecksum, ErrMultisig,
// ErrUnsupported or ErrInvalidKey.
func ParseBitcoin(key string, networkName string) (Deriver, error) {
	net, err := lookupNetwork(networkName)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(key)
	if len(s) > maxKeyLen {
		return nil, fmt.Errorf("%w: %d characters is too long for a key or descriptor", ErrInvalidKey, len(s))
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := CheckNotPrivate(s); err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, "()#") {
		return parseDescriptor(s, net)
	}
	return parseExtendedKey(s, net)
}

// decodeExtendedKey decodes a base58 BIP32 serialization and looks up its
// SLIP-132 version. It refuses private and unknown versions.
func decodeExtendedKey(s string) (*hdkeychain.ExtendedKey, slipVersion, error) {
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, slipVersion{}, fmt.Errorf("%w: not an extended public key (%v)", ErrInvalidKey, err)
	}
	v, ok := lookupVersion(k.Version())
	if !ok {
		return nil, slipVersion{}, fmt.Errorf("%w: unknown extended key version %x (prefix %q); expected xpub, ypub, zpub, tpub, upub or vpub", ErrInvalidKey, k.Version(), prefixOf(s))
	}
	if v.private || k.IsPrivate() {
		return nil, slipVersion{}, fmt.Errorf("%w: found an extended private key (%s…)", ErrPrivateKey, v.prefix)
	}
	if v.script == scriptMultisig {
		return nil, slipVersion{}, fmt.Errorf("%w: %s is a multisig key; give a single-signature account key", ErrMultisig, v.prefix)
	}
	return k, v, nil
}

// prefixOf returns up to the first 4 characters of s, for error messages.
func prefixOf(s string) string {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}

// parseExtendedKey handles a bare SLIP-132 account key: addresses <key>/0/i.
func parseExtendedKey(s string, net network) (Deriver, error) {
	k, v, err := decodeExtendedKey(s)
	if err != nil {
		return nil, err
	}
	if err := checkNetwork(v, net); err != nil {
		return nil, err
	}
	// The canonical descriptor uses the plain xpub/tpub version, as BIP380 wants.
	plain, err := k.CloneWithVersion(publicVersion(scriptP2PKH, net.testnet).versionBytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return newBitcoinDeriver(v.script, net, keyExpr{key: plain, steps: []uint32{0}})
}

// keyExpr is a parsed descriptor KEY: [fingerprint/origin]key/steps/*.
type keyExpr struct {
	fingerprint string   // 8 hex digits, "" without origin
	origin      []uint32 // path from the fingerprint's key to key
	key         *hdkeychain.ExtendedKey
	steps       []uint32 // non-hardened steps between key and the wildcard
}

// String renders the key expression in BIP380 form with 'h' for hardened.
func (e keyExpr) String() string {
	var b strings.Builder
	if e.fingerprint != "" {
		b.WriteString("[" + e.fingerprint)
		for _, p := range e.origin {
			b.WriteString("/" + formatStep(p, "h"))
		}
		b.WriteString("]")
	}
	b.WriteString(e.key.String())
	for _, p := range e.steps {
		b.WriteString("/" + formatStep(p, "h"))
	}
	b.WriteString("/*")
	return b.String()
}

// pathPrefix is the derivation path of the chain key e.key/steps, as shown
// in Address: "m/84'/0'/0'/0" with an origin, "…/0" without.
func (e keyExpr) pathPrefix() string {
	var b strings.Builder
	if e.fingerprint != "" {
		b.WriteString("m")
		for _, p := range e.origin {
			b.WriteString("/" + formatStep(p, "'"))
		}
	} else {
		b.WriteString("…")
	}
	for _, p := range e.steps {
		b.WriteString("/" + formatStep(p, "'"))
	}
	return b.String()
}

// formatStep prints one path element, hardened ones with the given marker.
func formatStep(p uint32, hardened string) string {
	if p >= hdkeychain.HardenedKeyStart {
		return strconv.FormatUint(uint64(p-hdkeychain.HardenedKeyStart), 10) + hardened
	}
	return strconv.FormatUint(uint64(p), 10)
}

// bitcoinDeriver derives one script type from a cached chain key.
type bitcoinDeriver struct {
	script scriptType
	net    network
	chain  *pubChain // key/steps: Address(i) derives chain/i
	path   string    // pathPrefix of chain
	desc   string    // canonical descriptor with checksum
	expr   keyExpr   // the parsed key, for Origin

	changeOnce sync.Once
	change     *pubChain // key/steps with the last step 1 (nil: no change branch)
	changeErr  error
}

// newBitcoinDeriver derives and caches the chain key of e.
func newBitcoinDeriver(script scriptType, net network, e keyExpr) (*bitcoinDeriver, error) {
	chain := e.key
	for _, p := range e.steps {
		c, err := chain.Derive(p)
		if err != nil {
			return nil, fmt.Errorf("%w: derive /%d: %v", ErrInvalidKey, p, err)
		}
		chain = c
	}
	var body string
	switch script {
	case scriptP2PKH:
		body = "pkh(" + e.String() + ")"
	case scriptP2SHP2WPKH:
		body = "sh(wpkh(" + e.String() + "))"
	case scriptP2WPKH:
		body = "wpkh(" + e.String() + ")"
	case scriptP2TR:
		body = "tr(" + e.String() + ")"
	default:
		return nil, fmt.Errorf("%w: script type %s", ErrUnsupported, script)
	}
	sum, err := DescriptorChecksum(body)
	if err != nil {
		return nil, err
	}
	pc, err := newPubChain(chain)
	if err != nil {
		return nil, err
	}
	return &bitcoinDeriver{script: script, net: net, chain: pc, path: e.pathPrefix(), desc: body + "#" + sum, expr: e}, nil
}

// Address implements Deriver.
func (d *bitcoinDeriver) Address(i uint32) (string, string, error) {
	pub, err := d.chain.child(i)
	if err != nil {
		return "", "", err
	}
	addr, err := encodeAddress(d.script, pub, d.net.params)
	if err != nil {
		return "", "", fmt.Errorf("encode address %d: %w", i, err)
	}
	return addr, d.path + "/" + strconv.FormatUint(uint64(i), 10), nil
}

// encodeAddress renders pub as an address of the given script type.
func encodeAddress(script scriptType, pub *btcec.PublicKey, params *chaincfg.Params) (string, error) {
	var (
		addr btcutil.Address
		err  error
	)
	switch script {
	case scriptP2PKH:
		addr, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), params)
	case scriptP2SHP2WPKH:
		redeem := append([]byte{txscript.OP_0, txscript.OP_DATA_20}, btcutil.Hash160(pub.SerializeCompressed())...)
		addr, err = btcutil.NewAddressScriptHash(redeem, params)
	case scriptP2WPKH:
		addr, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), params)
	case scriptP2TR:
		out := txscript.ComputeTaprootKeyNoScript(pub)
		addr, err = btcutil.NewAddressTaproot(schnorr.SerializePubKey(out), params)
	default:
		return "", fmt.Errorf("%w: script type %s", ErrUnsupported, script)
	}
	if err != nil {
		return "", err
	}
	return addr.EncodeAddress(), nil
}

// Type implements Deriver.
func (d *bitcoinDeriver) Type() string { return d.script.String() }

// Key implements Deriver: the canonical descriptor with checksum.
func (d *bitcoinDeriver) Key() string { return d.desc }
