package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// docsVerify is the Go verifier of docs/webhooks.md, verbatim (TestDocs
// checks the copy there matches).
func docsVerify(secret, header string, body []byte, now time.Time) bool {
	var t, v1 string
	for _, kv := range strings.Split(header, ",") {
		if k, v, _ := strings.Cut(kv, "="); k == "t" {
			t = v
		} else if k == "v1" {
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "." + string(body)))
	got, _ := hex.DecodeString(v1)
	return hmac.Equal(got, mac.Sum(nil))
}
