package derive_test

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/payd/payd/derive"
)

// abandonMnemonic is the BIP39 test mnemonic used by BIP49/84/86 and SLIP-132.
const abandonMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

var sentinels = map[string]error{
	"ErrPrivateKey":      derive.ErrPrivateKey,
	"ErrNetworkMismatch": derive.ErrNetworkMismatch,
	"ErrUnknownNetwork":  derive.ErrUnknownNetwork,
	"ErrChecksum":        derive.ErrChecksum,
	"ErrMultisig":        derive.ErrMultisig,
	"ErrUnsupported":     derive.ErrUnsupported,
	"ErrInvalidKey":      derive.ErrInvalidKey,
	"ErrIndex":           derive.ErrIndex,
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// masterFromMnemonic derives the BIP32 master key of a BIP39 mnemonic with
// an empty passphrase.
func masterFromMnemonic(t testing.TB, mnemonic string) *hdkeychain.ExtendedKey {
	t.Helper()
	seed, err := pbkdf2.Key(sha512.New, mnemonic, []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func derivePath(t testing.TB, k *hdkeychain.ExtendedKey, path ...uint32) *hdkeychain.ExtendedKey {
	t.Helper()
	for _, p := range path {
		var err error
		if k, err = k.Derive(p); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

const h = hdkeychain.HardenedKeyStart

func TestAddressVectors(t *testing.T) {
	var cases []struct {
		Name, Source, Key, Network, Type, Path, Address, Canonical string
		Index                                                      uint32
	}
	readJSON(t, "addresses.json", &cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			d, err := derive.ParseBitcoin(c.Key, c.Network)
			if err != nil {
				t.Fatalf("ParseBitcoin: %v", err)
			}
			addr, path, err := d.Address(c.Index)
			if err != nil {
				t.Fatalf("Address(%d): %v", c.Index, err)
			}
			if addr != c.Address || path != c.Path || d.Type() != c.Type {
				t.Errorf("got %s %s %s, want %s %s %s (%s)", addr, path, d.Type(), c.Address, c.Path, c.Type, c.Source)
			}
			if c.Canonical != "" && d.Key() != c.Canonical {
				t.Errorf("Key() = %s, want %s", d.Key(), c.Canonical)
			}
			// The canonical descriptor parses back to the same addresses.
			d2, err := derive.ParseBitcoin(d.Key(), c.Network)
			if err != nil {
				t.Fatalf("reparse Key(): %v", err)
			}
			if a2, _, _ := d2.Address(c.Index); a2 != c.Address || d2.Key() != d.Key() {
				t.Errorf("canonical %s gives %s", d.Key(), a2)
			}
		})
	}
}

// TestBIP32Public checks public child derivation against the public parts of
// BIP32 test vectors 1 and 2: pkh(parent/steps/*) at index i must pay to the
// child key of the vector.
func TestBIP32Public(t *testing.T) {
	var cases []struct {
		Name, Parent, Child string
		Steps               []uint32
		Index               uint32
	}
	readJSON(t, "bip32.json", &cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			desc := "pkh(" + c.Parent
			for _, s := range c.Steps {
				desc += "/" + itoa(s)
			}
			desc += "/*)"
			d, err := derive.ParseBitcoin(desc, "mainnet")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := d.Address(c.Index)
			if err != nil {
				t.Fatal(err)
			}
			child, err := hdkeychain.NewKeyFromString(c.Child)
			if err != nil {
				t.Fatal(err)
			}
			want, err := child.Address(&chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if got != want.EncodeAddress() {
				t.Errorf("got %s, want %s", got, want.EncodeAddress())
			}
		})
	}
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestMnemonicAccounts derives the account keys from the abandon mnemonic and
// checks them against the published xpubs, then checks public derivation
// against private derivation for many indices on every script type.
func TestMnemonicAccounts(t *testing.T) {
	m := masterFromMnemonic(t, abandonMnemonic)
	mp, _ := m.Neuter()
	mpub, _ := mp.ECPubKey()
	fp := hex.EncodeToString(btcutil.Hash160(mpub.SerializeCompressed())[:4])
	if fp != "73c5da0a" {
		t.Fatalf("master fingerprint %s, want 73c5da0a", fp)
	}
	published := map[uint32]string{ // SLIP-132 and BIP86, converted to xpub
		44: "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj",
		86: "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ",
	}
	scripts := map[uint32]string{44: "pkh(%s)", 49: "sh(wpkh(%s))", 84: "wpkh(%s)", 86: "tr(%s)"}
	for purpose, tmpl := range scripts {
		acct := derivePath(t, m, purpose+h, 0+h, 0+h)
		xpub, _ := acct.Neuter()
		if want, ok := published[purpose]; ok && xpub.String() != want {
			t.Fatalf("m/%d'/0'/0' = %s, want %s", purpose, xpub, want)
		}
		key := "[73c5da0a/" + itoa(purpose) + "h/0h/0h]" + xpub.String() + "/0/*"
		d, err := derive.ParseBitcoin(strings.Replace(tmpl, "%s", key, 1), "mainnet")
		if err != nil {
			t.Fatal(err)
		}
		for i := uint32(0); i < 25; i++ {
			got, path, err := d.Address(i)
			if err != nil {
				t.Fatal(err)
			}
			priv, _ := derivePath(t, acct, 0, i).ECPrivKey()
			want := btcAddress(t, d.Type(), priv.PubKey().SerializeCompressed())
			if want != "" && got != want {
				t.Errorf("m/%d'/0'/0'/0/%d: %s, want %s", purpose, i, got, want)
			}
			if wantPath := "m/" + itoa(purpose) + "'/0'/0'/0/" + itoa(i); path != wantPath {
				t.Errorf("path %s, want %s", path, wantPath)
			}
		}
	}
}

// btcAddress encodes a public key independently of the package, for the
// script types btcutil can do directly ("" for the others).
func btcAddress(t testing.TB, typ string, pub []byte) string {
	t.Helper()
	var (
		a   btcutil.Address
		err error
	)
	switch typ {
	case "p2pkh":
		a, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub), &chaincfg.MainNetParams)
	case "p2wpkh":
		a, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub), &chaincfg.MainNetParams)
	default:
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// TestRegtestBech32 checks that a vpub on regtest gives bcrt1 addresses with
// the witness program of the BIP84 mainnet vector.
func TestRegtestBech32(t *testing.T) {
	const vpub = "vpub5YvMuJNjRSYon44z9QmCfdf8SqJRVNvz6m55Qy5iVjZQxDfUgtiQjnc7CC1fAbED2tAGCZRERUfvtn2DstZGU6HMns6dXXH2wujSc2wfi2x" // the BIP84 zpub with vpub version bytes
	main, err := btcutil.DecodeAddress("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for net, params := range map[string]*chaincfg.Params{"regtest": &chaincfg.RegressionNetParams, "testnet": &chaincfg.TestNet3Params, "signet": &chaincfg.SigNetParams} {
		want, _ := btcutil.NewAddressWitnessPubKeyHash(main.ScriptAddress(), params)
		d, err := derive.ParseBitcoin(vpub, net)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := d.Address(0)
		if err != nil {
			t.Fatal(err)
		}
		if got != want.EncodeAddress() {
			t.Errorf("%s: %s, want %s", net, got, want.EncodeAddress())
		}
		if net == "regtest" && !strings.HasPrefix(got, "bcrt1q") {
			t.Errorf("regtest address %s lacks the bcrt hrp", got)
		}
	}
}

func TestEVM(t *testing.T) {
	m := masterFromMnemonic(t, abandonMnemonic)
	acct := derivePath(t, m, 44+h, 60+h, 0+h)
	xpub, _ := acct.Neuter()
	d, err := derive.ParseEVM(xpub.String())
	if err != nil {
		t.Fatal(err)
	}
	if d.Type() != "evm" || d.Key() != xpub.String() {
		t.Errorf("Type %q Key %q", d.Type(), d.Key())
	}
	addr, path, err := d.Address(0)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" || path != "m/44'/60'/0'/0/0" {
		t.Errorf("got %s %s", addr, path)
	}
	// Public derivation agrees with private derivation through go-ethereum.
	for i := uint32(0); i < 25; i++ {
		got, _, err := d.Address(i)
		if err != nil {
			t.Fatal(err)
		}
		priv, _ := derivePath(t, acct, 0, i).ECPrivKey()
		want := crypto.PubkeyToAddress(priv.ToECDSA().PublicKey).Hex()
		if got != want {
			t.Errorf("index %d: %s, want %s", i, got, want)
		}
	}
	// Another account keeps its number in the path.
	acct3, _ := derivePath(t, m, 44+h, 60+h, 3+h).Neuter()
	d3, err := derive.ParseEVM(acct3.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, path, _ := d3.Address(7); path != "m/44'/60'/3'/0/7" {
		t.Errorf("account 3 path %s", path)
	}
}

func TestChecksumAddress(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "eip55.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		want := strings.TrimSpace(sc.Text())
		if want == "" || strings.HasPrefix(want, "#") {
			continue
		}
		n++
		for _, in := range []string{want, strings.ToLower(want), "0x" + strings.ToUpper(want[2:]), want[2:]} {
			got, err := derive.ChecksumAddress(in)
			if err != nil || got != want {
				t.Errorf("ChecksumAddress(%s) = %s, %v; want %s", in, got, err, want)
			}
		}
		if got := common.HexToAddress(want).Hex(); got != want {
			t.Errorf("go-ethereum disagrees: %s", got)
		}
	}
	if n != 4 {
		t.Fatalf("read %d vectors, want 4", n)
	}
	for _, bad := range []string{"", "0x", "0x9858EfFD232B4033E47d90003D41EC34EcaEda9", "0x9858EfFD232B4033E47d90003D41EC34EcaEda94aa", "0xg858EfFD232B4033E47d90003D41EC34EcaEda94"} {
		if _, err := derive.ChecksumAddress(bad); !errors.Is(err, derive.ErrInvalidKey) {
			t.Errorf("ChecksumAddress(%q) err = %v", bad, err)
		}
	}
}

func TestDescriptorChecksumBIP380(t *testing.T) {
	var cases []struct{ Name, Input, Body, Err string }
	readJSON(t, "bip380_checksum.json", &cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			// raw() is not something payd derives from, so a descriptor whose
			// checksum is right fails later with ErrUnsupported.
			_, err := derive.ParseBitcoin(c.Input, "mainnet")
			want := sentinels["ErrUnsupported"]
			if c.Err != "" {
				want = sentinels[c.Err]
			}
			if !errors.Is(err, want) {
				t.Errorf("ParseBitcoin(%q) err = %v, want %v", c.Input, err, want)
			}
			if c.Body != "" && strings.Contains(c.Input, "#") {
				sum, err := derive.DescriptorChecksum(c.Body)
				if err != nil || c.Body+"#"+sum != c.Input {
					t.Errorf("DescriptorChecksum(%q) = %q, %v", c.Body, sum, err)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	var cases []struct{ Name, Parser, Network, Input, Err, Contains string }
	readJSON(t, "refusals.json", &cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var err error
			switch c.Parser {
			case "bitcoin":
				_, err = derive.ParseBitcoin(c.Input, c.Network)
			case "evm":
				_, err = derive.ParseEVM(c.Input)
			default:
				t.Fatalf("unknown parser %q", c.Parser)
			}
			want, ok := sentinels[c.Err]
			if !ok {
				t.Fatalf("unknown sentinel %q", c.Err)
			}
			if !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			if c.Contains != "" && !strings.Contains(err.Error(), c.Contains) {
				t.Errorf("err = %q, want it to contain %q", err, c.Contains)
			}
			if errors.Is(err, derive.ErrPrivateKey) {
				if !strings.Contains(err.Error(), "watch-only") {
					t.Errorf("err = %q does not say payd is watch-only", err)
				}
				// Never echo the secret.
				for _, tok := range strings.FieldsFunc(c.Input, func(r rune) bool { return strings.ContainsRune(" ,\n()[]/", r) }) {
					if len(tok) > 8 && strings.Contains(err.Error(), tok) {
						t.Errorf("err %q echoes the secret", err)
					}
				}
				if cerr := derive.CheckNotPrivate(c.Input); !errors.Is(cerr, derive.ErrPrivateKey) {
					t.Errorf("CheckNotPrivate = %v", cerr)
				}
			}
		})
	}
}

func TestCheckNotPrivateAccepts(t *testing.T) {
	var vectors []struct{ Key string }
	readJSON(t, "addresses.json", &vectors)
	ok := []string{
		"",
		"my shop wallet",
		"0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
		"bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
		"1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
		"0260b2003c386519fc9eadf2b5cf124dd8eea4c4e68d5e154050a9346ea98ce600",
		"eleven words are not a seed phrase so this is fine",
		"thank you for shopping with us, we hope to see you again soon and often",
		"please pay the exact amount shown before the timer runs out or the invoice expires",
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", // 11 words
	}
	for _, v := range vectors {
		ok = append(ok, v.Key)
	}
	for _, s := range ok {
		if err := derive.CheckNotPrivate(s); err != nil {
			t.Errorf("CheckNotPrivate(%q) = %v", s, err)
		}
	}
}

func TestAddressIndexRange(t *testing.T) {
	d, err := derive.ParseBitcoin("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "mainnet")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Address(h); !errors.Is(err, derive.ErrIndex) {
		t.Errorf("Address(2^31) err = %v", err)
	}
	if _, _, err := d.Address(h - 1); err != nil {
		t.Errorf("Address(2^31-1) err = %v", err)
	}
}

func TestConcurrentAddress(t *testing.T) {
	d, err := derive.ParseBitcoin("tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/0/*)", "mainnet")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				a, _, err := d.Address(0)
				if err != nil || a != "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr" {
					t.Errorf("concurrent Address(0) = %s, %v", a, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzParseBitcoin(f *testing.F) {
	var vectors []struct{ Key string }
	readJSON(f, "addresses.json", &vectors)
	for _, v := range vectors {
		f.Add(v.Key, "mainnet")
	}
	var refusals []struct{ Input, Network string }
	readJSON(f, "refusals.json", &refusals)
	for _, r := range refusals {
		f.Add(r.Input, r.Network)
	}
	f.Add("wpkh([deadbeef/0h]xpub/<0;1;2>/*)#zzzzzzzz", "regtest")
	f.Fuzz(func(t *testing.T, key, network string) {
		d, err := derive.ParseBitcoin(key, network)
		_ = derive.CheckNotPrivate(key)
		_, _ = derive.DescriptorChecksum(key)
		_, _ = derive.ParseEVM(key)
		if err != nil {
			if d != nil {
				t.Fatal("non-nil Deriver with an error")
			}
			return
		}
		if _, _, err := d.Address(0); err != nil && !errors.Is(err, derive.ErrIndex) {
			t.Fatalf("Address(0) on a parsed key: %v", err)
		}
		if _, err := derive.ParseBitcoin(d.Key(), network); err != nil {
			t.Fatalf("canonical %q does not parse: %v", d.Key(), err)
		}
	})
}
