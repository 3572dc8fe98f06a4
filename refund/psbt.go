package refund

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// KeyInfo is what a PSBT records of a key the merchant's wallet holds: its
// public key and where it comes from (derive.Origin).
type KeyInfo struct {
	Script      []byte // the output script the key controls
	PubKey      []byte // compressed, 33 bytes
	Fingerprint [4]byte
	Path        []uint32
}

// SpendInput is one output a PSBT spends.
type SpendInput struct {
	Input
	Key KeyInfo
	// PrevTx is the whole transaction that created the output, when the
	// node could give it (PSBT_IN_NON_WITNESS_UTXO, which hardware wallets
	// want even for segwit v0 inputs).
	PrevTx *wire.MsgTx
}

// Plan asks for a PSBT.
type Plan struct {
	Inputs []SpendInput
	// To is the destination's output script; Amount what it should get
	// (sats). With SweepAll the destination gets everything less the fee
	// and Amount is ignored.
	To       []byte
	Amount   int64
	SweepAll bool
	// Change is the merchant's change key (/1/i); nil = no change output
	// possible (the excess goes to the fee).
	Change *KeyInfo
	// FeeRate in sat/vB (≥ 1).
	FeeRate int64
	// FeeFromAmount lets the fee be taken out of Amount when the inputs
	// cannot pay both (a refund of everything that is left).
	FeeFromAmount bool
}

// Built is a PSBT ready for the merchant's wallet.
type Built struct {
	Packet *psbt.Packet
	Raw    []byte // serialized (BIP174 binary)
	Sent   int64  // what To gets
	Fee    int64
	// ChangeVout is the change output's index (-1 when there is none),
	// ChangeAmount its value.
	ChangeVout   int
	ChangeAmount int64
}

// Dust is the smallest output payd creates (the P2PKH dust limit, above
// every segwit one).
const Dust = 546

// vbytes of one input by the script it spends (signed, typical sizes).
func inputVSize(script []byte) (int64, error) {
	switch {
	case txscript.IsPayToWitnessPubKeyHash(script):
		return 68, nil
	case txscript.IsPayToScriptHash(script):
		return 91, nil // P2SH-P2WPKH
	case txscript.IsPayToPubKeyHash(script):
		return 148, nil
	case txscript.IsPayToTaproot(script):
		return 58, nil
	}
	return 0, fmt.Errorf("refund: cannot spend output script %x (payd derives p2pkh, p2sh-p2wpkh, p2wpkh and p2tr)", script)
}

// VSize estimates the signed transaction's virtual size.
func VSize(inputs []SpendInput, outputs [][]byte) (int64, error) {
	n := int64(11) // version, locktime, counts, segwit marker (rounded up)
	for _, in := range inputs {
		v, err := inputVSize(in.Key.Script)
		if err != nil {
			return 0, err
		}
		n += v
	}
	for _, o := range outputs {
		n += 9 + int64(len(o))
	}
	return n, nil
}

// Build makes the PSBT: every input of the plan, the destination output,
// and a change output when the rest is above dust. Inputs signal RBF
// (nSequence 0xfffffffd) so the merchant's wallet can bump the fee.
func Build(p Plan) (Built, error) {
	if len(p.Inputs) == 0 {
		return Built{}, fmt.Errorf("%w: nothing to spend", ErrInsufficient)
	}
	if p.FeeRate < 1 {
		return Built{}, errors.New("refund: fee rate must be at least 1 sat/vB")
	}
	var total int64
	for _, in := range p.Inputs {
		total += in.Amount
	}
	noChange, err := VSize(p.Inputs, [][]byte{p.To})
	if err != nil {
		return Built{}, err
	}
	feeNoChange := noChange * p.FeeRate
	b := Built{ChangeVout: -1}
	switch {
	case p.SweepAll:
		b.Sent, b.Fee = total-feeNoChange, feeNoChange
	default:
		if p.Amount <= 0 {
			return Built{}, fmt.Errorf("%w: amount must be more than 0", ErrInsufficient)
		}
		var withChange int64
		if p.Change != nil {
			v, err := VSize(p.Inputs, [][]byte{p.To, p.Change.Script})
			if err != nil {
				return Built{}, err
			}
			withChange = v * p.FeeRate
		}
		switch rest := total - p.Amount; {
		case p.Change != nil && rest-withChange >= Dust:
			b.Sent, b.Fee, b.ChangeAmount, b.ChangeVout = p.Amount, withChange, rest-withChange, 1
		case rest >= feeNoChange:
			b.Sent, b.Fee = p.Amount, rest // a change below dust goes to the fee
		case p.FeeFromAmount:
			b.Sent, b.Fee = total-feeNoChange, feeNoChange
		default:
			return Built{}, fmt.Errorf("%w: the outputs hold %d sats; %d sats and a fee of %d sats at %d sat/vB do not fit (refund less, or refund all that is left so the fee is taken from it)",
				ErrInsufficient, total, p.Amount, feeNoChange, p.FeeRate)
		}
	}
	if b.Sent < Dust {
		return Built{}, fmt.Errorf("%w: %d sats would be left for the destination after a fee of %d sats (dust limit %d)", ErrInsufficient, b.Sent, b.Fee, Dust)
	}
	var ops []*wire.OutPoint
	var seqs []uint32
	for _, in := range p.Inputs {
		h, err := chainhash.NewHashFromStr(in.TxID)
		if err != nil {
			return Built{}, fmt.Errorf("refund: input txid %q: %w", in.TxID, err)
		}
		ops = append(ops, wire.NewOutPoint(h, in.Vout))
		seqs = append(seqs, wire.MaxTxInSequenceNum-2)
	}
	outs := []*wire.TxOut{wire.NewTxOut(b.Sent, p.To)}
	if b.ChangeVout >= 0 {
		outs = append(outs, wire.NewTxOut(b.ChangeAmount, p.Change.Script))
	}
	pk, err := psbt.New(ops, outs, 2, 0, seqs)
	if err != nil {
		return Built{}, fmt.Errorf("refund: psbt: %w", err)
	}
	u, err := psbt.NewUpdater(pk)
	if err != nil {
		return Built{}, fmt.Errorf("refund: psbt: %w", err)
	}
	for i, in := range p.Inputs {
		txo := wire.NewTxOut(in.Amount, in.Key.Script)
		if in.PrevTx != nil {
			if int(in.Vout) >= len(in.PrevTx.TxOut) || in.PrevTx.TxHash().String() != in.TxID {
				return Built{}, fmt.Errorf("refund: previous transaction of input %d is not %s", i, in.Outpoint())
			}
			got := in.PrevTx.TxOut[in.Vout]
			if got.Value != in.Amount || !bytes.Equal(got.PkScript, in.Key.Script) {
				return Built{}, fmt.Errorf("refund: output %s holds %d sats to %x, not %d to %x", in.Outpoint(), got.Value, got.PkScript, in.Amount, in.Key.Script)
			}
			if err := u.AddInNonWitnessUtxo(in.PrevTx, i); err != nil {
				return Built{}, fmt.Errorf("refund: psbt input %d: %w", i, err)
			}
		}
		if !txscript.IsPayToPubKeyHash(in.Key.Script) {
			if err := u.AddInWitnessUtxo(txo, i); err != nil {
				return Built{}, fmt.Errorf("refund: psbt input %d: %w", i, err)
			}
		} else if in.PrevTx == nil {
			return Built{}, fmt.Errorf("refund: a p2pkh input needs its previous transaction (node without -txindex?)")
		}
		if err := addKey(u, pk, i, in.Key, true); err != nil {
			return Built{}, err
		}
	}
	if b.ChangeVout >= 0 {
		if err := addKey(u, pk, b.ChangeVout, *p.Change, false); err != nil {
			return Built{}, err
		}
	}
	var buf bytes.Buffer
	if err := pk.Serialize(&buf); err != nil {
		return Built{}, fmt.Errorf("refund: serialize psbt: %w", err)
	}
	b.Packet, b.Raw = pk, buf.Bytes()
	return b, nil
}

// addKey records a key's derivation on input (or output) i, with the
// script extras its type needs (the P2SH redeem script, taproot's x-only key).
func addKey(u *psbt.Updater, pk *psbt.Packet, i int, k KeyInfo, input bool) error {
	fp := binary.LittleEndian.Uint32(k.Fingerprint[:])
	switch {
	case txscript.IsPayToTaproot(k.Script):
		x := k.PubKey[1:] // x-only
		d := &psbt.TaprootBip32Derivation{XOnlyPubKey: x, MasterKeyFingerprint: fp, Bip32Path: k.Path}
		if input {
			pk.Inputs[i].TaprootInternalKey = x
			pk.Inputs[i].TaprootBip32Derivation = append(pk.Inputs[i].TaprootBip32Derivation, d)
		} else {
			pk.Outputs[i].TaprootInternalKey = x
			pk.Outputs[i].TaprootBip32Derivation = append(pk.Outputs[i].TaprootBip32Derivation, d)
		}
		return nil
	case txscript.IsPayToScriptHash(k.Script):
		redeem, err := p2wpkhScript(k.PubKey)
		if err != nil {
			return err
		}
		if input {
			if err := u.AddInRedeemScript(redeem, i); err != nil {
				return fmt.Errorf("refund: psbt input %d redeem script: %w", i, err)
			}
		} else if err := u.AddOutRedeemScript(redeem, i); err != nil {
			return fmt.Errorf("refund: psbt output %d redeem script: %w", i, err)
		}
	}
	if input {
		if err := u.AddInBip32Derivation(fp, k.Path, k.PubKey, i); err != nil {
			return fmt.Errorf("refund: psbt input %d derivation: %w", i, err)
		}
		return nil
	}
	if err := u.AddOutBip32Derivation(fp, k.Path, k.PubKey, i); err != nil {
		return fmt.Errorf("refund: psbt output %d derivation: %w", i, err)
	}
	return nil
}

func p2wpkhScript(pub []byte) ([]byte, error) {
	return txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(hash160(pub)).Script()
}

// Decode reads a PSBT in BIP174 binary or base64 form.
func Decode(b []byte) (*psbt.Packet, error) {
	t := bytes.TrimSpace(b)
	if bytes.HasPrefix(t, []byte("psbt\xff")) {
		return psbt.NewFromRawBytes(bytes.NewReader(t), false)
	}
	return psbt.NewFromRawBytes(bytes.NewReader(t), true)
}

// Finalize finalizes a signed PSBT and extracts the network transaction.
func Finalize(p *psbt.Packet) (*wire.MsgTx, error) {
	if err := psbt.MaybeFinalizeAll(p); err != nil {
		return nil, fmt.Errorf("the PSBT is not fully signed: %w", err)
	}
	return psbt.Extract(p)
}

// CheckPays verifies that tx spends at least one of the refund's inputs
// and pays script exactly sent sats: what POST …/broadcast checks before
// handing a transaction to the node.
func CheckPays(tx *wire.MsgTx, inputs []Input, script []byte, sent int64) error {
	want := map[string]bool{}
	for _, in := range inputs {
		want[in.Outpoint()] = true
	}
	spends := false
	for _, in := range tx.TxIn {
		if want[in.PreviousOutPoint.String()] {
			spends = true
		}
	}
	if !spends {
		return errors.New("the transaction does not spend the refund's inputs")
	}
	var paid int64
	for _, o := range tx.TxOut {
		if bytes.Equal(o.PkScript, script) {
			paid += o.Value
		}
	}
	switch {
	case paid == 0:
		return errors.New("the transaction does not pay the refund address")
	case paid < sent:
		return fmt.Errorf("the transaction pays the refund address %d sats, less than the agreed %d", paid, sent)
	}
	return nil
}
