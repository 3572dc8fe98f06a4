package derive_test

import (
	"testing"

	"github.com/payd/payd/derive"
)

func BenchmarkAddress(b *testing.B) {
	zpub, err := derive.ParseBitcoin("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "mainnet")
	if err != nil {
		b.Fatal(err)
	}
	evm, err := derive.ParseEVM("xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    derive.Deriver
	}{{"p2wpkh", zpub}, {"evm", evm}} {
		b.Run(c.name, func(b *testing.B) {
			var i uint32
			for b.Loop() {
				if _, _, err := c.d.Address(i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
