// Package bitcointest builds synthetic, mainnet-like Bitcoin blocks and
// watched-script sets for chain/bitcoin's tests and payd's benchmarks
// (bench/ reuses it). Deterministic for a seed. It imports only btcd's
// packages: not chain/bitcoin, so that package's tests may use it.
package bitcointest

import (
	"bytes"
	"encoding/hex"
	"math/rand"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Script kinds Block and Scripts produce, in rotation.
const (
	KindP2WPKH = iota
	KindP2TR
	KindP2PKH
	numKinds
)

// Script returns a random output script of kind.
func Script(r *rand.Rand, kind int) []byte {
	switch kind % numKinds {
	case KindP2WPKH:
		s := make([]byte, 22)
		s[0], s[1] = 0x00, 0x14
		r.Read(s[2:])
		return s
	case KindP2TR:
		s := make([]byte, 34)
		s[0], s[1] = 0x51, 0x20
		r.Read(s[2:])
		return s
	default:
		s := make([]byte, 25)
		s[0], s[1], s[2] = 0x76, 0xa9, 0x14
		r.Read(s[3:23])
		s[23], s[24] = 0x88, 0xac
		return s
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// Block returns a block of nTx transactions (a coinbase plus nTx-1 spends)
// shaped like a mainnet block: each spend has two inputs (one P2PKH with a
// 107-byte scriptSig, one P2WPKH with a 2-item witness), and two outputs
// mixing P2WPKH, P2TR and P2PKH, some with the RBF sequence. 4,000
// transactions serialize to about 1.6 MB.
func Block(nTx int, seed int64) *wire.MsgBlock {
	r := rand.New(rand.NewSource(seed))
	var prev chainhash.Hash
	r.Read(prev[:])
	blk := wire.NewMsgBlock(wire.NewBlockHeader(0x20000000, &prev, &chainhash.Hash{}, 0x1703a30c, r.Uint32()))
	blk.Header.Timestamp = time.Unix(1_700_000_000, 0)
	cb := wire.NewMsgTx(2)
	cb.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  randBytes(r, 40),
		Sequence:         wire.MaxTxInSequenceNum,
		Witness:          wire.TxWitness{make([]byte, 32)},
	})
	cb.AddTxOut(wire.NewTxOut(312_500_000, Script(r, KindP2WPKH)))
	cb.AddTxOut(wire.NewTxOut(0, append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, randBytes(r, 32)...)))
	_ = blk.AddTransaction(cb)
	for i := 1; i < nTx; i++ {
		tx := wire.NewMsgTx(2)
		seq := wire.MaxTxInSequenceNum - 1
		if i%5 == 0 {
			seq = wire.MaxTxInSequenceNum - 2 // BIP125
		}
		var h chainhash.Hash
		r.Read(h[:])
		tx.AddTxIn(&wire.TxIn{
			PreviousOutPoint: wire.OutPoint{Hash: h, Index: uint32(r.Intn(4))},
			SignatureScript:  randBytes(r, 107),
			Sequence:         seq,
		})
		r.Read(h[:])
		tx.AddTxIn(&wire.TxIn{
			PreviousOutPoint: wire.OutPoint{Hash: h, Index: uint32(r.Intn(4))},
			Sequence:         seq,
			Witness:          wire.TxWitness{randBytes(r, 72), randBytes(r, 33)},
		})
		tx.AddTxOut(wire.NewTxOut(int64(10_000+r.Intn(100_000_000)), Script(r, i)))
		tx.AddTxOut(wire.NewTxOut(int64(546+r.Intn(10_000_000)), Script(r, i+1)))
		_ = blk.AddTransaction(tx)
	}
	return blk
}

// Serialize returns blk in wire format (with witnesses), as getblock <hash>
// 0 returns it hex-encoded.
func Serialize(blk *wire.MsgBlock) []byte {
	var buf bytes.Buffer
	buf.Grow(blk.SerializeSize())
	if err := blk.Serialize(&buf); err != nil {
		panic(err) // cannot happen for a block built here
	}
	return buf.Bytes()
}

// GetBlockResponse wraps raw the way a node answers getblock <hash> 0:
// {"result":"<hex>","error":null,"id":1}.
func GetBlockResponse(raw []byte) []byte {
	out := make([]byte, 0, 2*len(raw)+40)
	out = append(out, `{"result":"`...)
	out = hex.AppendEncode(out, raw)
	out = append(out, `","error":null,"id":1}`...)
	return out
}

// Scripts returns n distinct watched scripts: hits of them are outputs of
// blk (spread over the block; at most one per output), the rest random of
// every kind.
func Scripts(n int, blk *wire.MsgBlock, hits int, seed int64) [][]byte {
	r := rand.New(rand.NewSource(seed))
	var outs [][]byte
	for _, tx := range blk.Transactions[1:] {
		for _, o := range tx.TxOut {
			outs = append(outs, o.PkScript)
		}
	}
	if hits > len(outs) {
		hits = len(outs)
	}
	if hits > n {
		hits = n
	}
	scripts := make([][]byte, 0, n)
	if hits > 0 {
		step := len(outs) / hits
		for i := 0; i < hits; i++ {
			scripts = append(scripts, outs[i*step])
		}
	}
	for i := len(scripts); i < n; i++ {
		scripts = append(scripts, Script(r, i))
	}
	return scripts
}

// Address returns the mainnet address a standard output script pays (as
// payd watches it), or "" for a script of no address.
func Address(script []byte) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, &chaincfg.MainNetParams)
	if err != nil || len(addrs) != 1 {
		return ""
	}
	return addrs[0].EncodeAddress()
}
