package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps — what every authenticator app
// speaks). A code of the previous or next step is accepted too, for clock skew.

var totpEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh 160-bit base32 TOTP key.
func NewTOTPSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return totpEnc.EncodeToString(b), nil
}

// totpCode is the 6-digit code of secret for the 30-second step counter.
func totpCode(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// TOTPCode returns the current code of secret (for tests and tooling).
func TOTPCode(secret string, now time.Time) string {
	key, err := totpEnc.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return ""
	}
	return totpCode(key, uint64(now.Unix()/30))
}

// VerifyTOTP reports whether code is secret's code at now (± one step).
func VerifyTOTP(secret, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return false
	}
	key, err := totpEnc.DecodeString(strings.ToUpper(secret))
	if err != nil || len(key) == 0 {
		return false
	}
	step := uint64(now.Unix() / 30)
	ok := 0
	for _, c := range []uint64{step - 1, step, step + 1} {
		ok |= subtle.ConstantTimeCompare([]byte(totpCode(key, c)), []byte(code))
	}
	return ok == 1
}

// totpURI is the otpauth:// URI authenticator apps scan.
func totpURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}
