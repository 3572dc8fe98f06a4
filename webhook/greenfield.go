package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// FormatGreenfield names the BTCPay Greenfield webhook format (rendered by
// api/greenfield, signed with SignGreenfield).
const FormatGreenfield = "greenfield"

// HeaderGreenfield is the header BTCPay's webhooks carry their signature in.
const HeaderGreenfield = "BTCPay-Sig"

// SignGreenfield returns the BTCPay-Sig header value for body:
// "sha256=<lowercase hex HMAC-SHA256(secret, body)>". Unlike Payd-Signature
// it carries no timestamp (BTCPay's scheme; receivers check it as is).
func SignGreenfield(secret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// VerifyGreenfield checks a BTCPay-Sig header against body in constant time;
// ErrSignatureHeader when it is not "sha256=<hex>", ErrSignature on mismatch.
func VerifyGreenfield(secret, header string, body []byte) error {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return ErrSignatureHeader
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignatureHeader
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	if !hmac.Equal(got, h.Sum(nil)) {
		return ErrSignature
	}
	return nil
}
