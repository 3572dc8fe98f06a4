package invoice

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// ID prefixes (API.md "Conventions").
const (
	PrefixInvoice  = "inv_"
	PrefixEvent    = "evt_"
	PrefixWebhook  = "wh_"
	PrefixPayment  = "pay_"
	PrefixAPIKey   = "key_"
	PrefixLink     = "lnk_"
	PrefixDelivery = "dlv_"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns prefix + a time-ordered identifier: 48 bits of milliseconds
// since the epoch followed by 96 random bits, in lower-case Crockford base32
// (29 characters). Time order keeps SQLite's B-tree appends cheap (PERF.md);
// the random part makes an invoice id an unguessable capability.
func NewID(prefix string, now time.Time) string {
	var b [18]byte // 6 time + 12 random
	ms := uint64(now.UnixMilli())
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], ms)
	copy(b[:6], t[2:])
	if _, err := rand.Read(b[6:]); err != nil {
		panic("invoice: crypto/rand failed: " + err.Error())
	}
	var sb strings.Builder
	sb.Grow(len(prefix) + 29)
	sb.WriteString(prefix)
	// 144 bits → 29 base32 digits (145 bits, top bit zero).
	var acc uint32
	bits := 1 // pretend a leading zero bit so 144 bits fill 29 digits
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(crockford[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(crockford[(acc<<uint(5-bits))&31])
	}
	return sb.String()
}

// ValidID reports whether s looks like an id with the given prefix (cheap
// syntactic check before any lookup).
func ValidID(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) < len(prefix)+16 || len(s) > len(prefix)+64 {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !strings.ContainsRune(crockford, c) {
			return false
		}
	}
	return true
}
