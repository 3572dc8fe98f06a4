package derive

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// TestOrigin checks Origin against a full derivation from the master key:
// receive and change branches, with and without a key origin.
func TestOrigin(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	master, err := hdkeychain.NewMaster(seed, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	h := uint32(hdkeychain.HardenedKeyStart)
	acct := master
	for _, p := range []uint32{84 + h, 1 + h, h} {
		if acct, err = acct.Derive(p); err != nil {
			t.Fatal(err)
		}
	}
	pub, _ := acct.Neuter()
	mpub, _ := master.ECPubKey()
	mfp := btcutil.Hash160(mpub.SerializeCompressed())[:4]
	apub, _ := pub.ECPubKey()
	afp := btcutil.Hash160(apub.SerializeCompressed())[:4]

	for _, tc := range []struct {
		name, key string
		fp        []byte
		prefix    []uint32
	}{
		{"origin", fmt.Sprintf("wpkh([%x/84h/1h/0h]%s/0/*)", mfp, pub), mfp, []uint32{84 + h, 1 + h, h}},
		{"bare", fmt.Sprintf("wpkh(%s/0/*)", pub), afp, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseBitcoin(tc.key, "regtest")
			if err != nil {
				t.Fatal(err)
			}
			for _, branch := range []uint32{BranchReceive, BranchChange} {
				o, err := d.(Originer).Origin(branch, 5)
				if err != nil {
					t.Fatal(err)
				}
				k, _ := acct.Derive(branch)
				k, _ = k.Derive(5)
				want, _ := k.ECPubKey()
				if !bytes.Equal(o.PubKey, want.SerializeCompressed()) {
					t.Fatalf("branch %d: pubkey %x, want %x", branch, o.PubKey, want.SerializeCompressed())
				}
				if !bytes.Equal(o.Fingerprint[:], tc.fp) || o.FromMaster != (tc.name == "origin") {
					t.Fatalf("fingerprint %x (master %v), want %x", o.Fingerprint, o.FromMaster, tc.fp)
				}
				wantPath := append(append([]uint32(nil), tc.prefix...), branch, 5)
				if fmt.Sprint(o.Path) != fmt.Sprint(wantPath) {
					t.Fatalf("path %v, want %v", o.Path, wantPath)
				}
				a, _ := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(o.PubKey), &chaincfg.RegressionNetParams)
				if a.EncodeAddress() != o.Address || hex.EncodeToString(o.Script) != "0014"+hex.EncodeToString(btcutil.Hash160(o.PubKey)) {
					t.Fatalf("address %s script %x", o.Address, o.Script)
				}
				if branch == BranchReceive {
					addr, _, _ := d.Address(5)
					if addr != o.Address {
						t.Fatalf("receive origin address %s, Address(5) %s", o.Address, addr)
					}
				}
			}
		})
	}
}
