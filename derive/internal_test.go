package derive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// TestScriptTypeNames fails when a script type has no name.
func TestScriptTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for s := scriptP2PKH; s <= scriptMultisig; s++ {
		name := s.String()
		if strings.HasPrefix(name, "scriptType(") || seen[name] {
			t.Errorf("script type %d has no unique name: %q", s, name)
		}
		seen[name] = true
	}
	if got := scriptType(200).String(); got != "scriptType(200)" {
		t.Errorf("unknown = %q", got)
	}
}

// TestSLIP132Table checks the table: every public version has its private
// twin, prefixes are unique, and each base58 prefix really starts a key.
func TestSLIP132Table(t *testing.T) {
	prefixes := map[string]bool{}
	for _, v := range slip132 {
		if prefixes[v.prefix] {
			t.Errorf("duplicate prefix %s", v.prefix)
		}
		prefixes[v.prefix] = true
		if v.private != strings.HasSuffix(v.prefix, "prv") {
			t.Errorf("%s: private = %v", v.prefix, v.private)
		}
		if got, ok := lookupVersion(v.versionBytes()); !ok || got != v {
			t.Errorf("lookupVersion(%x) = %v, %v", v.versionBytes(), got, ok)
		}
	}
	priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	chainCode := bytes.Repeat([]byte{0xff}, 32)
	for _, v := range slip132 {
		key := priv.PubKey().SerializeCompressed()
		if v.private {
			key = priv.Serialize()
		}
		k := hdkeychain.NewExtendedKey(v.versionBytes(), key, chainCode, []byte{0, 0, 0, 0}, 3, hdkeychain.HardenedKeyStart, v.private)
		if s := k.String(); !strings.HasPrefix(s, v.prefix) {
			t.Errorf("version %x serializes as %s…, want %s", v.versionBytes(), s[:4], v.prefix)
		}
	}
	for _, v := range slip132 {
		twin := strings.TrimSuffix(v.prefix, "pub") + "prv"
		if !v.private && !prefixes[twin] {
			t.Errorf("%s has no %s", v.prefix, twin)
		}
	}
	for _, tc := range []struct {
		script  scriptType
		testnet bool
		want    string
	}{
		{scriptP2PKH, false, "xpub"}, {scriptP2SHP2WPKH, false, "ypub"}, {scriptP2WPKH, false, "zpub"},
		{scriptP2PKH, true, "tpub"}, {scriptP2SHP2WPKH, true, "upub"}, {scriptP2WPKH, true, "vpub"},
	} {
		if got := publicVersion(tc.script, tc.testnet).prefix; got != tc.want {
			t.Errorf("publicVersion(%s, %v) = %s, want %s", tc.script, tc.testnet, got, tc.want)
		}
	}
}

// TestBIP39Wordlist checks the embedded list against the published digest.
func TestBIP39Wordlist(t *testing.T) {
	sum := sha256.Sum256([]byte(bip39English))
	if got := hex.EncodeToString(sum[:]); got != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Errorf("bip39_english.txt sha256 = %s", got)
	}
	if len(bip39Words) != 2048 {
		t.Errorf("%d words, want 2048", len(bip39Words))
	}
}
