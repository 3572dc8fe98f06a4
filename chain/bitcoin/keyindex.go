package bitcoin

import "encoding/binary"

// keyIndex is a set of fixed-size keys (key20 or key32) found by a 64-bit
// prefix: map[uint64]uint32 from the key's first 8 program bytes to its
// position in a slice of keys. Go's maps look up uint64 keys through a
// specialised path; with 1,000,000 entries a lookup that misses (nearly
// every output of a block) measured ~2× faster than in a map keyed by the
// 21- or 33-byte array itself, and no slower than the script-string map it
// replaced. The program bytes are hash or public key output, so the prefix is
// uniformly spread; a hit is confirmed against the whole key. Two watched
// keys with one prefix (~1 in 10^7 at 1M keys) cannot both be in the index:
// add reports it and the caller keeps the second elsewhere.
type keyIndex[K key20 | key32] struct {
	idx  map[uint64]uint32
	keys []K
	free []uint32 // positions of removed keys, reused first
}

func newKeyIndex[K key20 | key32]() keyIndex[K] {
	return keyIndex[K]{idx: make(map[uint64]uint32)}
}

// prefix is the index key of k: program bytes 0–7 with the kind mixed in
// (a P2PKH and a P2WPKH of one hash are different keys).
func prefix(kind scriptKind, prog []byte) uint64 {
	return binary.LittleEndian.Uint64(prog) ^ uint64(kind)<<56
}

func (t *keyIndex[K]) has(p uint64, k *K) bool {
	i, ok := t.idx[p]
	return ok && t.keys[i] == *k
}

// add adds k; false if another key holds its prefix (k is not added).
func (t *keyIndex[K]) add(p uint64, k *K) bool {
	if i, ok := t.idx[p]; ok {
		return t.keys[i] == *k
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
		t.keys[i] = *k
	} else {
		i = uint32(len(t.keys))
		t.keys = append(t.keys, *k)
	}
	t.idx[p] = i
	return true
}

// remove removes k if it is in the index.
func (t *keyIndex[K]) remove(p uint64, k *K) {
	i, ok := t.idx[p]
	if !ok || t.keys[i] != *k {
		return
	}
	delete(t.idx, p)
	var zero K
	t.keys[i] = zero
	t.free = append(t.free, i)
	if len(t.idx) == 0 { // all gone: drop the slice too
		t.keys, t.free = nil, nil
	}
}

func (t *keyIndex[K]) len() int { return len(t.idx) }
