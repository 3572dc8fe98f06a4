package bitcoin

// A segwit address encoder for the watch set's matches: BIP173 (bech32,
// witness v0) and BIP350 (bech32m, v1+) for 20- and 32-byte programs,
// building the string in one allocation. btcutil's encoder takes ~3 µs and
// 6 allocations per address, which a block with 100 matches would feel
// (~10 % of a 4,000-transaction block scan). Tests compare it with btcutil.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

const (
	bech32Const  = 1
	bech32mConst = 0x2bc830a3
)

func bech32Polymod(chk uint32, v byte) uint32 {
	b := chk >> 25
	chk = (chk&0x1ffffff)<<5 ^ uint32(v)
	if b&1 != 0 {
		chk ^= 0x3b6a57b2
	}
	if b&2 != 0 {
		chk ^= 0x26508e6d
	}
	if b&4 != 0 {
		chk ^= 0x1ea119fa
	}
	if b&8 != 0 {
		chk ^= 0x3d4233dd
	}
	if b&16 != 0 {
		chk ^= 0x2a1462b3
	}
	return chk
}

// hrpPolymod is the checksum state after the expanded human-readable part
// (lower case, as the networks' Bech32HRPSegwit are).
func hrpPolymod(hrp string) uint32 {
	chk := uint32(1)
	for i := 0; i < len(hrp); i++ {
		chk = bech32Polymod(chk, hrp[i]>>5)
	}
	chk = bech32Polymod(chk, 0)
	for i := 0; i < len(hrp); i++ {
		chk = bech32Polymod(chk, hrp[i]&31)
	}
	return chk
}

// segwitAddress encodes witness program prog (20 or 32 bytes) of version
// ver under hrp, whose hrpPolymod is chk.
func segwitAddress(hrp string, chk uint32, ver byte, prog []byte) string {
	// hrp + "1" + version + ceil(32*8/5)=52 groups + 6 checksum.
	var buf [128]byte
	n := copy(buf[:], hrp)
	buf[n] = '1'
	n++
	var data [60]byte
	d := 0
	data[d] = ver
	d++
	acc, bits := uint32(0), uint(0)
	for _, b := range prog {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			data[d] = byte(acc>>bits) & 31
			d++
		}
	}
	if bits > 0 {
		data[d] = byte(acc<<(5-bits)) & 31
		d++
	}
	for _, v := range data[:d] {
		chk = bech32Polymod(chk, v)
	}
	for range 6 {
		chk = bech32Polymod(chk, 0)
	}
	if ver == 0 {
		chk ^= bech32Const
	} else {
		chk ^= bech32mConst
	}
	for _, v := range data[:d] {
		buf[n] = bech32Charset[v]
		n++
	}
	for i := range 6 {
		buf[n] = bech32Charset[(chk>>(5*(5-uint(i))))&31]
		n++
	}
	return string(buf[:n])
}
