package derive

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/base58"
)

// Seed phrases: BIP39 mnemonics have 12 to 24 words, Electrum seeds 12 or 13,
// a 25th word is sometimes written down as the passphrase.
const (
	minSeedWords = 12
	maxSeedWords = 25
)

// bip39English is the BIP39 English wordlist
// (bitcoin/bips bip-0039/english.txt, sha256 2f5eed53…3b24dbda).
//
//go:embed bip39_english.txt
var bip39English string

// bip39Words is bip39English as a set.
var bip39Words = func() map[string]bool {
	m := make(map[string]bool, 2048)
	for _, w := range strings.Fields(bip39English) {
		m[w] = true
	}
	return m
}()

// CheckNotPrivate returns an error wrapping ErrPrivateKey when s holds, or
// looks like it holds, private key material: an extended private key
// (xprv/yprv/zprv/tprv/uprv/vprv/…, alone or inside a descriptor), a WIF key,
// a 64-hex-digit key (with or without 0x) or a seed phrase (12 to 25 words
// from the BIP39 English list, one typo tolerated, in any case, separated by
// spaces, commas or new lines, optionally numbered). It errs on the side of
// refusing: a mistyped xprv is still refused. The error names what was
// found, never the secret. Config validation calls it on every key-like field.
func CheckNotPrivate(s string) error {
	if n := seedWords(s); n > 0 {
		return fmt.Errorf("%w: this looks like a %d-word seed phrase; never give payd your seed", ErrPrivateKey, n)
	}
	for _, tok := range strings.FieldsFunc(s, notAlnum) {
		if what := privateToken(tok); what != "" {
			return fmt.Errorf("%w: found %s", ErrPrivateKey, what)
		}
	}
	return nil
}

// seedWords returns the number of words when s looks like a seed phrase,
// else 0. Numbering ("1.", "2)") is ignored.
func seedWords(s string) int {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ','
	})
	if len(fields) < minSeedWords || len(fields) > 2*maxSeedWords {
		return 0
	}
	n, known := 0, 0
	for _, f := range fields {
		if strings.Trim(f, "0123456789.)") == "" {
			continue // a list number
		}
		for _, r := range f {
			if r < 'a' || r > 'z' {
				return 0
			}
		}
		n++
		if bip39Words[f] {
			known++
		}
	}
	if n < minSeedWords || n > maxSeedWords || known < n-1 {
		return 0
	}
	return n
}

// privateToken describes tok if it is private key material, else "".
func privateToken(tok string) string {
	// Extended private keys: by prefix (so typos are refused too) ...
	if len(tok) >= 100 && len(tok) <= 120 {
		for _, v := range slip132 {
			if v.private && strings.HasPrefix(tok, v.prefix) {
				return "an extended private key (" + v.prefix + "…)"
			}
		}
	}
	// ... and by content, whatever the version bytes: a valid 78-byte BIP32
	// serialization whose key data starts with 0x00 is private.
	if len(tok) >= 100 && len(tok) <= 120 {
		if b := base58.Decode(tok); len(b) == 82 && b[45] == 0x00 {
			return "an extended private key"
		}
	}
	// WIF: 51 characters starting 5 (mainnet) or 9 (testnet) for uncompressed,
	// 52 starting K/L (mainnet) or c (testnet) for compressed.
	if (len(tok) == 51 && (tok[0] == '5' || tok[0] == '9')) ||
		(len(tok) == 52 && (tok[0] == 'K' || tok[0] == 'L' || tok[0] == 'c')) {
		if isBase58(tok) {
			return "a WIF private key"
		}
	}
	// Raw 32-byte keys in hex.
	h := tok
	if len(h) == 66 && (h[:2] == "0x" || h[:2] == "0X") {
		h = h[2:]
	}
	if len(h) == 64 && isHex(h) {
		return "64 hex digits (a raw private key)"
	}
	return ""
}

// notAlnum splits tokens at anything that is not an ASCII letter or digit.
func notAlnum(r rune) bool {
	return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
}

// isBase58 reports whether s uses only the Bitcoin base58 alphabet.
func isBase58(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '1' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !ok || c == 'I' || c == 'O' || c == 'l' {
			return false
		}
	}
	return true
}

// isHex reports whether s is all hexadecimal digits.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
