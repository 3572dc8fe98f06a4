package bitcoin

import (
	"sync"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// scriptKind is the standard output script form a fixed-size watch key
// stands for.
type scriptKind uint8

const (
	kindNone scriptKind = iota
	kindP2PKH
	kindP2SH
	kindP2WPKH
	kindP2WSH
	kindP2TR
)

// key20 is a script paying a 20-byte hash (P2PKH, P2SH, P2WPKH): its kind,
// then the hash; 21 bytes, no pointers. The kind is part of the key because
// one public key hash can be paid as P2PKH and as P2WPKH. Found through a
// keyIndex.
type key20 [21]byte

// key32 is a script paying a 32-byte witness program (P2WSH, P2TR): kind,
// then program.
type key32 [33]byte

func makeKey20(kind scriptKind, prog []byte) (k key20) {
	k[0] = byte(kind)
	copy(k[1:], prog)
	return k
}

func makeKey32(kind scriptKind, prog []byte) (k key32) {
	k[0] = byte(kind)
	copy(k[1:], prog)
	return k
}

// classify returns the standard form of script and its hash or witness
// program (aliasing script), or kindNone.
func classify(s []byte) (scriptKind, []byte) {
	switch len(s) {
	case 22: // OP_0 <20>
		if s[0] == txscript.OP_0 && s[1] == txscript.OP_DATA_20 {
			return kindP2WPKH, s[2:]
		}
	case 34: // OP_0 <32> | OP_1 <32>
		if s[1] == txscript.OP_DATA_32 {
			switch s[0] {
			case txscript.OP_0:
				return kindP2WSH, s[2:]
			case txscript.OP_1:
				return kindP2TR, s[2:]
			}
		}
	case 25: // OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
		if s[0] == txscript.OP_DUP && s[1] == txscript.OP_HASH160 && s[2] == txscript.OP_DATA_20 &&
			s[23] == txscript.OP_EQUALVERIFY && s[24] == txscript.OP_CHECKSIG {
			return kindP2PKH, s[3:23]
		}
	case 23: // OP_HASH160 <20> OP_EQUAL
		if s[0] == txscript.OP_HASH160 && s[1] == txscript.OP_DATA_20 && s[22] == txscript.OP_EQUAL {
			return kindP2SH, s[2:22]
		}
	}
	return kindNone, nil
}

// WatchSet is the set of watched output scripts and the address each was
// watched for. It is safe for concurrent use: a scan holds the read lock
// once for a whole block (a few ms), so Add waits at most that long.
// Copy-on-write was rejected: every Add would copy the set.
//
// A standard script (P2PKH, P2SH, P2WPKH, P2WSH, P2TR) is kept as a
// fixed-size key only, 21 or 33 bytes with no pointer for the GC to follow,
// found by a 64-bit prefix (keyIndex): the address string is not stored but
// encoded again from the key on a match (matches are rare; a lookup that
// misses costs one uint64 map probe and no allocation). Only a script of another form, or an address that is not the
// canonical encoding of its script on the set's network (an upper-case
// bech32 address, say), is kept with its string, so that a match always
// reports the address exactly as it was given to Add. With 1,000,000 P2WPKH
// addresses the set takes ~64 MB instead of ~156 MB as script → string
// (BenchmarkWatchSetMemory).
type WatchSet struct {
	params *chaincfg.Params
	hrpChk uint32 // hrpPolymod(params.Bech32HRPSegwit)

	mu  sync.RWMutex
	k20 keyIndex[key20]
	k32 keyIndex[key32]
	// odd maps string(script) → address for the entries whose address
	// cannot be encoded from the key (see above). Usually empty.
	odd map[string]string
	// nonStd counts the entries of odd whose script has no fixed-size key.
	nonStd int
	// collided maps string(script) → address for standard scripts whose
	// index prefix another watched key holds (see keyIndex). Practically
	// always empty.
	collided map[string]string
}

// NewWatchSet returns an empty set for addresses of the network params
// (nil: mainnet).
func NewWatchSet(params *chaincfg.Params) *WatchSet {
	if params == nil {
		params = &chaincfg.MainNetParams
	}
	return &WatchSet{params: params, hrpChk: hrpPolymod(params.Bech32HRPSegwit), k20: newKeyIndex[key20](), k32: newKeyIndex[key32](),
		odd: make(map[string]string), collided: make(map[string]string)}
}

// Add watches script on behalf of addr: a match of script reports addr.
// Adding a script again replaces its address.
func (w *WatchSet) Add(script []byte, addr string) {
	kind, prog := classify(script)
	w.add(script, kind, prog, addr, kind != kindNone && w.encode(kind, prog) == addr)
}

// addDecoded is Add for an addr known to decode to script on w's network
// (Backend.Watch decoded it): it is then the canonical encoding unless it is
// an upper-case bech32 address (bech32 and base58check have one spelling per
// script and network otherwise, mixed case does not decode). This skips
// encoding the address again, which would double the cost of loading 1M
// addresses at startup.
func (w *WatchSet) addDecoded(script []byte, addr string) {
	kind, prog := classify(script)
	canonical := kind != kindNone
	if kind == kindP2WPKH || kind == kindP2WSH || kind == kindP2TR {
		canonical = canonical && !hasUpper(addr)
	}
	w.add(script, kind, prog, addr, canonical)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func (w *WatchSet) add(script []byte, kind scriptKind, prog []byte, addr string, canonical bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !canonical:
		if _, ok := w.odd[string(script)]; !ok && kind == kindNone {
			w.nonStd++
		}
		w.odd[string(script)] = addr
		if kind == kindNone {
			return
		}
	case len(w.odd) > 0:
		delete(w.odd, string(script))
	}
	if !w.put(kind, prog) {
		w.collided[string(script)] = addr
	}
}

// put adds the fixed-size key; false if its prefix is taken. w.mu is held.
func (w *WatchSet) put(kind scriptKind, prog []byte) bool {
	p := prefix(kind, prog)
	if len(prog) == 20 {
		k := makeKey20(kind, prog)
		return w.k20.add(p, &k)
	}
	k := makeKey32(kind, prog)
	return w.k32.add(p, &k)
}

// Remove stops watching script.
func (w *WatchSet) Remove(script []byte) {
	kind, prog := classify(script)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.odd[string(script)]; ok {
		delete(w.odd, string(script))
		if kind == kindNone {
			w.nonStd--
		}
	}
	if len(w.collided) > 0 {
		delete(w.collided, string(script))
	}
	switch len(prog) {
	case 20:
		k := makeKey20(kind, prog)
		w.k20.remove(prefix(kind, prog), &k)
	case 32:
		k := makeKey32(kind, prog)
		w.k32.remove(prefix(kind, prog), &k)
	}
}

// Lookup returns the address watching script.
func (w *WatchSet) Lookup(script []byte) (string, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.lookup(script)
}

// lookup is Lookup with w.mu held (for reading). A miss allocates nothing.
func (w *WatchSet) lookup(script []byte) (string, bool) {
	kind, prog := classify(script)
	var ok bool
	switch len(prog) {
	case 20:
		k := makeKey20(kind, prog)
		ok = w.k20.has(prefix(kind, prog), &k)
	case 32:
		k := makeKey32(kind, prog)
		ok = w.k32.has(prefix(kind, prog), &k)
	default:
		if len(w.odd) == 0 {
			return "", false
		}
		a, ok := w.odd[string(script)]
		return a, ok
	}
	if !ok {
		if len(w.collided) > 0 {
			a, ok := w.collided[string(script)]
			return a, ok
		}
		return "", false
	}
	if len(w.odd) > 0 {
		if a, ok := w.odd[string(script)]; ok {
			return a, true
		}
	}
	return w.encode(kind, prog), true
}

// Len is the number of watched scripts.
func (w *WatchSet) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.k20.len() + w.k32.len() + w.nonStd + len(w.collided)
}

// encode returns the address of a standard script on w's network.
func (w *WatchSet) encode(kind scriptKind, prog []byte) string {
	switch kind {
	case kindP2PKH:
		return base58.CheckEncode(prog, w.params.PubKeyHashAddrID)
	case kindP2SH:
		return base58.CheckEncode(prog, w.params.ScriptHashAddrID)
	case kindP2WPKH, kindP2WSH:
		return segwitAddress(w.params.Bech32HRPSegwit, w.hrpChk, 0, prog)
	case kindP2TR:
		return segwitAddress(w.params.Bech32HRPSegwit, w.hrpChk, 1, prog)
	}
	return ""
}
