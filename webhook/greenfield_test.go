package webhook

import (
	"errors"
	"testing"
)

// RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
const rfc4231 = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

func TestSignGreenfield(t *testing.T) {
	body := []byte("what do ya want for nothing?")
	if got := SignGreenfield("Jefe", body); got != rfc4231 {
		t.Fatalf("SignGreenfield = %s, want %s", got, rfc4231)
	}
	tests := []struct {
		name, secret, header string
		body                 string
		want                 error
	}{
		{"valid", "Jefe", rfc4231, string(body), nil},
		{"valid with spaces", "Jefe", " " + rfc4231 + " ", string(body), nil},
		{"other secret", "jefe", rfc4231, string(body), ErrSignature},
		{"other body", "Jefe", rfc4231, string(body) + " ", ErrSignature},
		{"no prefix", "Jefe", rfc4231[len("sha256="):], string(body), ErrSignatureHeader},
		{"not hex", "Jefe", "sha256=zz", string(body), ErrSignatureHeader},
		{"empty", "Jefe", "", string(body), ErrSignatureHeader},
		{"payd's scheme", "Jefe", "t=1,v1=" + rfc4231[len("sha256="):], string(body), ErrSignatureHeader},
	}
	for _, tc := range tests {
		if err := VerifyGreenfield(tc.secret, tc.header, []byte(tc.body)); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: VerifyGreenfield = %v, want %v", tc.name, err, tc.want)
		}
	}
}
