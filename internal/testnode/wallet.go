package testnode

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/refund"
)

// Wallet is a merchant's HD seed, held by the tests and `make demo` so they
// can sign what payd (watch-only) prepares, as Sparrow or
// `walletprocesspsbt` would. TEST AND DEMO ONLY: the seed sits in memory
// (and, for the demo, in a file).
type Wallet struct {
	seed   []byte
	master *hdkeychain.ExtendedKey // regtest
	fp     []byte                  // master fingerprint
	// BTC is the descriptor payd gets: wpkh([fp/84h/1h/0h]tpub…/0/*).
	BTC string
	// EVM is the EVM account xpub (m/44'/60'/0').
	EVM    string
	evmKey *hdkeychain.ExtendedKey
}

// NewWallet makes a wallet from a fresh random seed.
func NewWallet() (*Wallet, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return WalletFromSeed(seed)
}

// WalletFromSeed makes the wallet of seed.
func WalletFromSeed(seed []byte) (*Wallet, error) {
	w := &Wallet{seed: bytes.Clone(seed)}
	var err error
	if w.master, err = hdkeychain.NewMaster(seed, &chaincfg.RegressionNetParams); err != nil {
		return nil, err
	}
	mpub, err := w.master.ECPubKey()
	if err != nil {
		return nil, err
	}
	w.fp = btcutil.Hash160(mpub.SerializeCompressed())[:4]
	h := uint32(hdkeychain.HardenedKeyStart)
	acct, err := derivePath(w.master, h+84, h+1, h)
	if err != nil {
		return nil, err
	}
	pub, err := acct.Neuter()
	if err != nil {
		return nil, err
	}
	w.BTC = fmt.Sprintf("wpkh([%x/84h/1h/0h]%s/0/*)", w.fp, pub)
	em, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return nil, err
	}
	if w.evmKey, err = derivePath(em, h+44, h+60, h); err != nil {
		return nil, err
	}
	epub, err := w.evmKey.Neuter()
	if err != nil {
		return nil, err
	}
	w.EVM = epub.String()
	return w, nil
}

// Save writes w's seed (hex) to path, readable by its owner only.
func (w *Wallet) Save(path string) error {
	return os.WriteFile(path, []byte(hex.EncodeToString(w.seed)+"\n"), 0o600)
}

// LoadWallet reads a wallet saved by Save.
func LoadWallet(path string) (*Wallet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a hex seed: %w", path, err)
	}
	return WalletFromSeed(seed)
}

func derivePath(k *hdkeychain.ExtendedKey, path ...uint32) (*hdkeychain.ExtendedKey, error) {
	for _, p := range path {
		var err error
		if k, err = k.Derive(p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// SignPSBT signs every input of p, each of which must carry one BIP32
// derivation naming the wallet's master fingerprint and a witness UTXO (as
// payd's PSBTs do), finalizes it and returns the network transaction.
func (w *Wallet) SignPSBT(p *psbt.Packet) (*wire.MsgTx, error) {
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.Inputs {
		if in.WitnessUtxo == nil {
			return nil, fmt.Errorf("input %d has no witness UTXO", i)
		}
		fetcher.AddPrevOut(p.UnsignedTx.TxIn[i].PreviousOutPoint, in.WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetcher)
	u, err := psbt.NewUpdater(p)
	if err != nil {
		return nil, err
	}
	for i, in := range p.Inputs {
		if len(in.Bip32Derivation) != 1 {
			return nil, fmt.Errorf("input %d has %d derivations", i, len(in.Bip32Derivation))
		}
		d := in.Bip32Derivation[0]
		fp := []byte{byte(d.MasterKeyFingerprint), byte(d.MasterKeyFingerprint >> 8), byte(d.MasterKeyFingerprint >> 16), byte(d.MasterKeyFingerprint >> 24)}
		if !bytes.Equal(fp, w.fp) {
			return nil, fmt.Errorf("input %d: fingerprint %x, the wallet's is %x", i, fp, w.fp)
		}
		k, err := derivePath(w.master, d.Bip32Path...)
		if err != nil {
			return nil, err
		}
		priv, err := k.ECPrivKey()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(priv.PubKey().SerializeCompressed(), d.PubKey) {
			return nil, fmt.Errorf("input %d: the path %v does not give the PSBT's public key", i, d.Bip32Path)
		}
		sig, err := txscript.RawTxInWitnessSignature(p.UnsignedTx, hashes, i, in.WitnessUtxo.Value, in.WitnessUtxo.PkScript, txscript.SigHashAll, priv)
		if err != nil {
			return nil, err
		}
		if _, err := u.Sign(i, sig, d.PubKey, nil, nil); err != nil {
			return nil, fmt.Errorf("sign input %d: %w", i, err)
		}
	}
	return refund.Finalize(p)
}

// EVMPriv is the private key of the EVM deposit address at index
// (m/44'/60'/0'/0/index).
func (w *Wallet) EVMPriv(index uint32) (*btcec.PrivateKey, error) {
	k, err := derivePath(w.evmKey, 0, index)
	if err != nil {
		return nil, err
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		return nil, err
	}
	if priv == nil {
		return nil, errors.New("no private key")
	}
	return priv, nil
}
