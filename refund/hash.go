package refund

import "github.com/btcsuite/btcd/btcutil"

func hash160(b []byte) []byte { return btcutil.Hash160(b) }
