package refund

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// vectors reads one vector per line of testdata/bip174/name (# comments).
func vectors(t *testing.T, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "bip174", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(name, ".hex") {
			b, err := hex.DecodeString(l)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, b)
		} else {
			out = append(out, []byte(l))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return out
}

// TestBIP174Vectors: every valid vector of BIP174 (and BIP371's base64
// ones) decodes and serialises back to the same bytes; every invalid one is
// refused.
func TestBIP174Vectors(t *testing.T) {
	for i, v := range vectors(t, "valid.hex") {
		p, err := Decode(v)
		if err != nil {
			t.Fatalf("valid hex %d: %v", i, err)
		}
		var b bytes.Buffer
		if err := p.Serialize(&b); err != nil {
			t.Fatalf("valid hex %d: serialize: %v", i, err)
		}
		if !bytes.Equal(b.Bytes(), v) {
			t.Fatalf("valid hex %d: round trip differs\n got %x\nwant %x", i, b.Bytes(), v)
		}
	}
	for i, v := range vectors(t, "valid.b64") {
		p, err := Decode(v)
		if err != nil {
			t.Fatalf("valid base64 %d: %v", i, err)
		}
		s, err := p.B64Encode()
		if err != nil || s != string(v) {
			t.Fatalf("valid base64 %d: round trip differs (%v)\n got %s\nwant %s", i, err, s, v)
		}
	}
	for _, name := range []string{"invalid.hex", "invalid.b64"} {
		for i, v := range vectors(t, name) {
			if _, err := Decode(v); err == nil {
				t.Errorf("%s %d: decoded an invalid PSBT", name, i)
			}
		}
	}
}

func key(t *testing.T, b byte) KeyInfo {
	pub := append([]byte{2}, bytes.Repeat([]byte{b}, 32)...)
	s, err := p2wpkhScript(pub)
	if err != nil {
		t.Fatal(err)
	}
	return KeyInfo{Script: s, PubKey: pub, Fingerprint: [4]byte{0xd9, 0x0c, 0x6a, 0x4f}, Path: []uint32{84 | 1<<31, 1 | 1<<31, 1 << 31, 0, uint32(b)}}
}

func input(t *testing.T, n byte, sats int64) SpendInput {
	h := chainhash.DoubleHashH([]byte{n})
	return SpendInput{Input: Input{TxID: h.String(), Vout: uint32(n), Amount: sats}, Key: key(t, n)}
}

// TestBuild covers the fee and change rules and checks the PSBT carries
// the witness UTXO and BIP32 derivation of every input and of the change.
func TestBuild(t *testing.T) {
	to := key(t, 99).Script
	change := key(t, 50)
	two := []SpendInput{input(t, 1, 60_000), input(t, 2, 40_000)}
	// 2 p2wpkh inputs, 1 or 2 p2wpkh outputs: 11 + 136 + 31 (+31) vB
	for _, tc := range []struct {
		name        string
		plan        Plan
		sent, fee   int64
		changeValue int64
		err         error
	}{
		{"change", Plan{Inputs: two, To: to, Amount: 30_000, Change: &change, FeeRate: 2}, 30_000, 418, 69_582, nil},
		{"change below dust goes to fee", Plan{Inputs: two, To: to, Amount: 99_500, Change: &change, FeeRate: 1}, 99_500, 500, 0, nil},
		{"full refund pays its fee", Plan{Inputs: two, To: to, Amount: 100_000, Change: &change, FeeRate: 2, FeeFromAmount: true}, 100_000 - 356, 356, 0, nil},
		{"not enough for the fee", Plan{Inputs: two, To: to, Amount: 100_000, Change: &change, FeeRate: 2}, 0, 0, 0, ErrInsufficient},
		{"sweep", Plan{Inputs: two, To: to, SweepAll: true, FeeRate: 3}, 100_000 - 534, 534, 0, nil},
		{"dust", Plan{Inputs: []SpendInput{input(t, 3, 700)}, To: to, SweepAll: true, FeeRate: 5}, 0, 0, 0, ErrInsufficient},
		{"no inputs", Plan{To: to, Amount: 1, FeeRate: 1}, 0, 0, 0, ErrInsufficient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(tc.plan)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Sent != tc.sent || b.Fee != tc.fee || b.ChangeAmount != tc.changeValue {
				t.Fatalf("sent %d fee %d change %d, want %d %d %d", b.Sent, b.Fee, b.ChangeAmount, tc.sent, tc.fee, tc.changeValue)
			}
			p, err := Decode([]byte(base64.StdEncoding.EncodeToString(b.Raw)))
			if err != nil {
				t.Fatal(err)
			}
			fee, err := p.GetTxFee()
			if err != nil || int64(fee) != tc.fee {
				t.Fatalf("PSBT fee %d (%v), want %d", fee, err, tc.fee)
			}
			for i, in := range p.Inputs {
				if in.WitnessUtxo == nil || len(in.Bip32Derivation) != 1 || in.Bip32Derivation[0].MasterKeyFingerprint != 0x4f6a0cd9 {
					t.Fatalf("input %d: %+v", i, in)
				}
				if p.UnsignedTx.TxIn[i].Sequence != wire.MaxTxInSequenceNum-2 {
					t.Fatalf("input %d does not signal RBF", i)
				}
			}
			if b.ChangeVout >= 0 && len(p.Outputs[b.ChangeVout].Bip32Derivation) != 1 {
				t.Fatalf("change output has no derivation")
			}
			if err := CheckPays(p.UnsignedTx, inputsOf(tc.plan.Inputs), to, b.Sent); err != nil {
				t.Fatal(err)
			}
			if err := CheckPays(p.UnsignedTx, inputsOf(tc.plan.Inputs), to, b.Sent+1); err == nil {
				t.Fatal("CheckPays accepted less than agreed")
			}
			if err := CheckPays(p.UnsignedTx, inputsOf(tc.plan.Inputs), change.Script[:len(change.Script)-1], b.Sent); err == nil {
				t.Fatal("CheckPays accepted a transaction that pays someone else")
			}
			var _ = psbt.ErrInvalidPsbtFormat
		})
	}
}

func inputsOf(s []SpendInput) []Input {
	var out []Input
	for _, in := range s {
		out = append(out, in.Input)
	}
	return out
}
