package evm

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"testing"
)

// FuzzHexFields checks the lean JSON hex decoders (quantity, u64, hash32,
// addr20, word) against math/big and encoding/hex: each accepts exactly the
// quoted 0x strings it should and decodes them to the same value.
func FuzzHexFields(f *testing.F) {
	for _, s := range []string{
		`"0x0"`, `"0x1"`, `"0xa"`, `"0xA"`, `"0X10"`, `"0x"`, `"0x123"`, `"0x00000000000000ff"`,
		`"0xffffffffffffffff"`, `"0x10000000000000000"`, `null`, `"1"`, `0x1`, `"0xg"`, `"0x-1"`, `"0x+1"`,
		`"0x` + string(bytes.Repeat([]byte("f"), 64)) + `"`, `"0x` + string(bytes.Repeat([]byte("1"), 65)) + `"`,
		`"0x` + string(bytes.Repeat([]byte("ab"), 20)) + `"`, `"0x` + string(bytes.Repeat([]byte("cd"), 32)) + `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var digits string
		wellFormed := len(b) >= 4 && b[0] == '"' && b[len(b)-1] == '"' && b[1] == '0' && (b[2] == 'x' || b[2] == 'X')
		if wellFormed {
			digits = string(b[3 : len(b)-1])
		}
		want, isNum := new(big.Int).SetString(digits, 16)
		isNum = isNum && wellFormed && digits != "" && digits[0] != '+' && digits[0] != '-' && !bytes.ContainsAny([]byte(digits), "_xX")

		var q quantity
		err := q.UnmarshalJSON(b)
		switch {
		case err == nil && !isNum:
			t.Fatalf("quantity accepted %q", b)
		case err == nil && q.Big().Cmp(want) != 0:
			t.Fatalf("quantity %q = %s, want %s", b, q.Big(), want)
		case err != nil && isNum && len(digits) <= 64:
			t.Fatalf("quantity refused %q: %v", b, err)
		}

		var u u64
		err = u.UnmarshalJSON(b)
		switch {
		case err == nil && (!isNum || !want.IsUint64() || uint64(u) != want.Uint64()):
			t.Fatalf("u64 %q = %d, want %s (number %v)", b, u, want, isNum)
		case err != nil && isNum && len(digits) <= 16:
			t.Fatalf("u64 refused %q: %v", b, err)
		}

		raw, hexErr := hex.DecodeString(digits)
		exact := func(n int) bool { return wellFormed && hexErr == nil && len(raw) == n }
		var h hash32
		if err := h.UnmarshalJSON(b); (err == nil) != exact(32) || (err == nil && !bytes.Equal(h[:], raw)) {
			t.Fatalf("hash32 %q: err %v, value %x, hex says %x (%v)", b, err, h, raw, hexErr)
		}
		var a addr20
		err = a.UnmarshalJSON(b)
		if string(b) == "null" {
			if err != nil || a.OK {
				t.Fatalf("addr20 null: %v %+v", err, a)
			}
		} else if (err == nil) != exact(20) || (err == nil && (!a.OK || !bytes.Equal(a.A[:], raw))) {
			t.Fatalf("addr20 %q: err %v, value %+v, hex says %x (%v)", b, err, a, raw, hexErr)
		}
		var w word
		if err := w.UnmarshalJSON(b); err == nil && w.OK && (!exact(32) || !bytes.Equal(w.V[:], raw)) {
			t.Fatalf("word %q = %x, hex says %x (%v)", b, w.V, raw, hexErr)
		}
	})
}
