package derive

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// TestPubChainMatchesHDKeychain derives children with pubChain and with
// btcd's hdkeychain (the reference) from several parents and compares every
// public key, including the first indexes, a run in the middle and the last
// non-hardened index.
func TestPubChainMatchesHDKeychain(t *testing.T) {
	seeds := [][]byte{
		bytes.Repeat([]byte{0x01}, 32),
		bytes.Repeat([]byte{0xfe}, 16),
		[]byte("payd pubChain cross-check seed, 64 bytes long................."),
	}
	indexes := []uint32{0, 1, 2, 19, 20, 1000, 65535, 1 << 20, hdkeychain.HardenedKeyStart - 1}
	for i := uint32(100); i < 400; i++ {
		indexes = append(indexes, i)
	}
	for _, seed := range seeds {
		master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := master.Derive(hdkeychain.HardenedKeyStart + 84)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := acct.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		pc, err := newPubChain(pub)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range indexes {
			got, err := pc.child(i)
			ref, rerr := pub.Derive(i)
			if errors.Is(rerr, hdkeychain.ErrInvalidChild) {
				if !errors.Is(err, ErrIndex) {
					t.Fatalf("index %d: hdkeychain says invalid, pubChain %v", i, err)
				}
				continue
			}
			if err != nil || rerr != nil {
				t.Fatalf("index %d: %v / %v", i, err, rerr)
			}
			want, err := ref.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.SerializeCompressed(), want.SerializeCompressed()) {
				t.Fatalf("index %d: pubChain %x, hdkeychain %x", i, got.SerializeCompressed(), want.SerializeCompressed())
			}
		}
	}
	pc, _ := newPubChain(mustNeuter(t))
	if _, err := pc.child(hdkeychain.HardenedKeyStart); !errors.Is(err, ErrIndex) {
		t.Fatalf("hardened index: %v, want ErrIndex", err)
	}
}

func mustNeuter(t *testing.T) *hdkeychain.ExtendedKey {
	t.Helper()
	m, err := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func BenchmarkChildPubKey(b *testing.B) {
	m, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	pub, _ := m.Neuter()
	pc, _ := newPubChain(pub)
	b.Run("pubChain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := pc.child(uint32(i % 100000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hdkeychain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := pub.Derive(uint32(i % 100000))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.ECPubKey(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
