package derive

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// Descriptors accepted by ParseBitcoin (BIP380-386 subset):
//
//	pkh(KEY)        P2PKH
//	sh(wpkh(KEY))   P2SH-P2WPKH
//	wpkh(KEY)       P2WPKH
//	tr(KEY)         P2TR, key path only (BIP86)
//
// with KEY = [fingerprint/origin/path]xpub…/steps/* : the origin is optional
// (hardened marker h, H or '), the key is an xpub (mainnet) or tpub (other
// networks), steps are unhardened numbers, one of which may be a multipath
// group <0;1> (its first element is used), and the final step must be the
// unhardened wildcard *. An optional #checksum is verified.

// parseDescriptor parses s (possibly with #checksum) for net.
func parseDescriptor(s string, net network) (Deriver, error) {
	body, err := splitChecksum(s)
	if err != nil {
		return nil, err
	}
	if strings.Contains(body, "multi(") || strings.Contains(body, "multi_a(") {
		return nil, fmt.Errorf("%w: give a single-signature descriptor", ErrMultisig)
	}
	fn, args, err := splitCall(body)
	if err != nil {
		return nil, err
	}
	var script scriptType
	switch fn {
	case "pkh":
		script = scriptP2PKH
	case "wpkh":
		script = scriptP2WPKH
	case "tr":
		if strings.Contains(args, ",") {
			return nil, fmt.Errorf("%w: taproot script trees tr(KEY,TREE) are not supported; use tr(KEY) (BIP86)", ErrUnsupported)
		}
		script = scriptP2TR
	case "sh":
		inner, innerArgs, err := splitCall(args)
		if err != nil {
			return nil, err
		}
		if inner != "wpkh" {
			return nil, fmt.Errorf("%w: sh(%s(…)) is not supported; use sh(wpkh(…))", ErrUnsupported, inner)
		}
		script, args = scriptP2SHP2WPKH, innerArgs
	default:
		return nil, fmt.Errorf("%w: descriptor function %q is not supported; use pkh, sh(wpkh), wpkh or tr", ErrUnsupported, fn)
	}
	e, err := parseKeyExpr(args, net)
	if err != nil {
		return nil, err
	}
	return newBitcoinDeriver(script, net, e)
}

// splitCall splits "fn(args)" into fn and args.
func splitCall(s string) (fn, args string, err error) {
	i := strings.IndexByte(s, '(')
	if i <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", fmt.Errorf("%w: expected a descriptor like wpkh([fingerprint/84h/0h/0h]xpub…/0/*)", ErrInvalidKey)
	}
	fn = s[:i]
	for _, r := range fn {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return "", "", fmt.Errorf("%w: bad descriptor function name %q", ErrInvalidKey, fn)
		}
	}
	return fn, s[i+1 : len(s)-1], nil
}

// parseKeyExpr parses a ranged extended-key expression.
func parseKeyExpr(s string, net network) (keyExpr, error) {
	var e keyExpr
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return e, fmt.Errorf("%w: key origin has no closing ']'", ErrInvalidKey)
		}
		parts := strings.Split(s[1:end], "/")
		if len(parts[0]) != 8 || !isHex(parts[0]) {
			return e, fmt.Errorf("%w: key origin fingerprint must be 8 hex digits", ErrInvalidKey)
		}
		e.fingerprint = strings.ToLower(parts[0])
		for _, p := range parts[1:] {
			n, err := parseStep(p)
			if err != nil {
				return e, err
			}
			e.origin = append(e.origin, n)
		}
		s = s[end+1:]
	}
	if strings.ContainsAny(s, "[](),") {
		return e, fmt.Errorf("%w: a descriptor here takes one key expression", ErrUnsupported)
	}
	parts := strings.Split(s, "/")
	keyStr := parts[0]
	if (len(keyStr) == 66 || len(keyStr) == 130) && isHex(keyStr) {
		return e, fmt.Errorf("%w: a single public key gives one address; give a ranged xpub…/0/*", ErrUnsupported)
	}
	k, v, err := decodeExtendedKey(keyStr)
	if err != nil {
		return e, err
	}
	if v.script != scriptP2PKH {
		return e, fmt.Errorf("%w: descriptors take xpub/tpub keys; %s… carries its own script type: give it bare, without a descriptor", ErrUnsupported, v.prefix)
	}
	if err := checkNetwork(v, net); err != nil {
		return e, err
	}
	e.key = k
	rest := parts[1:]
	if len(rest) == 0 || rest[len(rest)-1] != "*" {
		if len(rest) > 0 && strings.HasPrefix(rest[len(rest)-1], "*") {
			return e, fmt.Errorf("%w: a hardened wildcard cannot be derived from a public key; use /0/*", ErrUnsupported)
		}
		return e, fmt.Errorf("%w: the descriptor must be ranged: end the key with /0/* (receive chain)", ErrUnsupported)
	}
	multipath := false
	for _, p := range rest[:len(rest)-1] {
		if strings.HasPrefix(p, "<") && strings.HasSuffix(p, ">") {
			if multipath {
				return e, fmt.Errorf("%w: at most one <a;b> multipath step", ErrInvalidKey)
			}
			multipath = true
			alts := strings.Split(p[1:len(p)-1], ";")
			if len(alts) < 2 {
				return e, fmt.Errorf("%w: multipath step %q needs at least two choices", ErrInvalidKey, p)
			}
			var first uint32
			for j, a := range alts {
				n, err := parseUnhardened(a)
				if err != nil {
					return e, err
				}
				if j == 0 {
					first = n
				}
			}
			e.steps = append(e.steps, first)
			continue
		}
		n, err := parseUnhardened(p)
		if err != nil {
			return e, err
		}
		e.steps = append(e.steps, n)
	}
	return e, nil
}

// parseUnhardened parses a derivation step after an extended public key.
func parseUnhardened(p string) (uint32, error) {
	n, err := parseStep(p)
	if err != nil {
		return 0, err
	}
	if n >= hdkeychain.HardenedKeyStart {
		return 0, fmt.Errorf("%w: hardened step %s after an extended public key cannot be derived", ErrUnsupported, p)
	}
	return n, nil
}

// parseStep parses "84", "84h", "84H" or "84'" (hardened adds 2^31).
func parseStep(p string) (uint32, error) {
	hardened := false
	if strings.HasSuffix(p, "h") || strings.HasSuffix(p, "H") || strings.HasSuffix(p, "'") {
		hardened, p = true, p[:len(p)-1]
	}
	if p == "" || p[0] < '0' || p[0] > '9' {
		return 0, fmt.Errorf("%w: bad derivation step %q", ErrInvalidKey, p)
	}
	n, err := strconv.ParseUint(p, 10, 32)
	if err != nil || n >= hdkeychain.HardenedKeyStart {
		return 0, fmt.Errorf("%w: derivation step %q out of range", ErrInvalidKey, p)
	}
	if hardened {
		n += hdkeychain.HardenedKeyStart
	}
	return uint32(n), nil
}
