package derive

import (
	"fmt"
	"strings"
)

// BIP380 descriptor checksum
// (https://github.com/bitcoin/bips/blob/master/bip-0380.mediawiki#checksum).
const (
	descInputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	descChecksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	descChecksumLen     = 8
)

var descGenerator = [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}

// descPolymod is descsum_polymod: it folds one more symbol into chk.
func descPolymod(chk uint64, value uint64) uint64 {
	top := chk >> 35
	chk = (chk&0x7ffffffff)<<5 ^ value
	for i := 0; i < 5; i++ {
		if (top>>i)&1 == 1 {
			chk ^= descGenerator[i]
		}
	}
	return chk
}

// DescriptorChecksum returns the 8-character BIP380 checksum of desc, which
// must not include the "#checksum" suffix itself. It fails when desc has a
// character outside the descriptor character set.
func DescriptorChecksum(desc string) (string, error) {
	chk := uint64(1)
	var groups [3]uint64
	n := 0
	for i := 0; i < len(desc); i++ {
		v := strings.IndexByte(descInputCharset, desc[i])
		if v < 0 || desc[i] >= 0x80 {
			return "", fmt.Errorf("%w: character %q at offset %d is not allowed in a descriptor", ErrInvalidKey, desc[i], i)
		}
		chk = descPolymod(chk, uint64(v&31))
		groups[n] = uint64(v >> 5)
		n++
		if n == 3 {
			chk = descPolymod(chk, groups[0]*9+groups[1]*3+groups[2])
			n = 0
		}
	}
	switch n {
	case 1:
		chk = descPolymod(chk, groups[0])
	case 2:
		chk = descPolymod(chk, groups[0]*3+groups[1])
	}
	for i := 0; i < descChecksumLen; i++ {
		chk = descPolymod(chk, 0)
	}
	chk ^= 1
	var out [descChecksumLen]byte
	for i := range out {
		out[i] = descChecksumCharset[(chk>>(5*(7-i)))&31]
	}
	return string(out[:]), nil
}

// splitChecksum separates "desc#checksum" and verifies the checksum when one
// is present. A descriptor without '#' is accepted as is.
func splitChecksum(s string) (string, error) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return s, nil
	}
	body, got := s[:i], s[i+1:]
	if len(got) != descChecksumLen {
		return "", fmt.Errorf("%w: the checksum after '#' must be %d characters, got %d", ErrChecksum, descChecksumLen, len(got))
	}
	want, err := DescriptorChecksum(body)
	if err != nil {
		return "", err
	}
	if got != want {
		return "", fmt.Errorf("%w: the descriptor was altered or mistyped; copy it again from the wallet", ErrChecksum)
	}
	return body, nil
}
