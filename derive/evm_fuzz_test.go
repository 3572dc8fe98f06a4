package derive_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"

	"github.com/payd/payd/derive"
)

// evmAccountXpub derives m/44'/60'/account' from a fixed seed.
func evmAccountXpub(t testing.TB, account uint32) string {
	t.Helper()
	k, err := hdkeychain.NewMaster([]byte("payd fuzz seed, not a wallet...."), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{44, 60, account} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

// FuzzParseEVM feeds arbitrary keys to ParseEVM: no panic, an error and a
// Deriver never together, and every accepted key gives EIP-55 checksummed
// addresses (as go-ethereum writes them) on the m/44'/60'/N'/0/i path, and
// re-parses from Key().
func FuzzParseEVM(f *testing.F) {
	good := evmAccountXpub(f, 0)
	f.Add(good)
	f.Add(evmAccountXpub(f, 7))
	f.Add("  " + good + "\n")
	f.Add(good[:len(good)-1] + "x")
	f.Add("xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj")
	f.Add("xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi")
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		d, err := derive.ParseEVM(key)
		if err != nil {
			if d != nil {
				t.Fatal("non-nil Deriver with an error")
			}
			return
		}
		if derive.CheckNotPrivate(key) != nil {
			t.Fatalf("accepted %q that CheckNotPrivate refuses", key)
		}
		for _, i := range []uint32{0, 1, hdkeychain.HardenedKeyStart - 1} {
			addr, path, err := d.Address(i)
			if err != nil {
				if errors.Is(err, derive.ErrIndex) {
					continue
				}
				t.Fatalf("Address(%d): %v", i, err)
			}
			if !common.IsHexAddress(addr) || common.HexToAddress(addr).Hex() != addr {
				t.Fatalf("Address(%d) = %q, not EIP-55", i, addr)
			}
			if !strings.HasPrefix(path, "m/44'/60'/") || !strings.Contains(path, "'/0/") {
				t.Fatalf("Address(%d) path %q", i, path)
			}
		}
		d2, err := derive.ParseEVM(d.Key())
		if err != nil {
			t.Fatalf("Key() %q does not re-parse: %v", d.Key(), err)
		}
		a1, _, err1 := d.Address(3)
		a2, _, err2 := d2.Address(3)
		if a1 != a2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("re-parsed key derives %q, first %q", a2, a1)
		}
	})
}

// FuzzChecksumAddress compares ChecksumAddress with go-ethereum's EIP-55.
func FuzzChecksumAddress(f *testing.F) {
	for _, s := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
		"0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "0x", "0xzz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := derive.ChecksumAddress(s)
		h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
		valid := len(h) == 40 && common.IsHexAddress("0x"+h)
		if (err == nil) != valid {
			t.Fatalf("ChecksumAddress(%q): %v, want valid=%v", s, err, valid)
		}
		if err == nil && got != common.HexToAddress(h).Hex() {
			t.Fatalf("ChecksumAddress(%q) = %q, go-ethereum says %q", s, got, common.HexToAddress(h).Hex())
		}
	})
}
