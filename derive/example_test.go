package derive_test

import (
	"errors"
	"fmt"

	"github.com/payd/payd/derive"
)

// A bare zpub (SLIP-132) is a P2WPKH account key; receive addresses are /0/i.
func ExampleParseBitcoin() {
	d, err := derive.ParseBitcoin("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "mainnet")
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := uint32(0); i < 2; i++ {
		addr, path, _ := d.Address(i)
		fmt.Println(d.Type(), path, addr)
	}
	// Output:
	// p2wpkh …/0/0 bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu
	// p2wpkh …/0/1 bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g
}

// A descriptor with key origin gives full paths; tr() is BIP86 key-path taproot.
func ExampleParseBitcoin_descriptor() {
	d, err := derive.ParseBitcoin("tr([73c5da0a/86h/0h/0h]xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/0/*)#se42yddx", "mainnet")
	if err != nil {
		fmt.Println(err)
		return
	}
	addr, path, _ := d.Address(0)
	fmt.Println(path, addr)
	// Output:
	// m/86'/0'/0'/0/0 bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr
}

// A mainnet key on regtest is refused and the error names the expected prefix.
func ExampleParseBitcoin_networkMismatch() {
	_, err := derive.ParseBitcoin("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "regtest")
	fmt.Println(errors.Is(err, derive.ErrNetworkMismatch))
	fmt.Println(err)
	// Output:
	// true
	// key is for another network: zpub is a mainnet key but network is regtest, which expects vpub
}

// The account xpub m/44'/60'/0' of the BIP39 test mnemonic "abandon … about".
func ExampleParseEVM() {
	d, err := derive.ParseEVM("xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt")
	if err != nil {
		fmt.Println(err)
		return
	}
	addr, path, _ := d.Address(0)
	fmt.Println(path, addr)
	// Output:
	// m/44'/60'/0'/0/0 0x9858EfFD232B4033E47d90003D41EC34EcaEda94
}

func ExampleChecksumAddress() {
	addr, _ := derive.ChecksumAddress("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359")
	fmt.Println(addr)
	// Output:
	// 0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359
}

func ExampleDescriptorChecksum() {
	sum, _ := derive.DescriptorChecksum("raw(deadbeef)")
	fmt.Println("raw(deadbeef)#" + sum)
	// Output:
	// raw(deadbeef)#89f8spxm
}

func ExampleCheckNotPrivate() {
	err := derive.CheckNotPrivate("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	fmt.Println(errors.Is(err, derive.ErrPrivateKey))
	fmt.Println(derive.CheckNotPrivate("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"))
	// Output:
	// true
	// <nil>
}
