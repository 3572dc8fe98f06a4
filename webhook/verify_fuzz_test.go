package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payd/payd/webhook"
)

// FuzzVerify feeds arbitrary Payd-Signature headers to Verify: it never
// panics, fails only with its three documented errors, accepts a header only
// when one v1 is the HMAC of "<t>." + body for a t within tolerance, and
// always accepts what Sign produced.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_fuzz"
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"invoice.settled"}`)
	good := webhook.Sign(secret, now, body)
	for _, h := range []string{
		good, good + ",v1=00", "v1=00," + good, strings.ToUpper(good), "t=1700000000", "v1=abcd",
		"t=,v1=", "t=abc,v1=00", "t=1700000000,v1=zz", "t=-9223372036854775808,v1=00",
		"t=9223372036854775807,v1=00", " t = 1 , v1 = 00 ", ",,,", "=", "t=1700000000,v0=00,v1=" + strings.Repeat("0", 64),
	} {
		f.Add(h, body)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := webhook.Verify(secret, header, body, now, 0)
		if err != nil {
			if !errors.Is(err, webhook.ErrSignatureHeader) && !errors.Is(err, webhook.ErrTimestamp) && !errors.Is(err, webhook.ErrSignature) {
				t.Fatalf("undocumented error %v", err)
			}
		} else {
			ts, sigs := parse(header)
			sec, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("accepted a header with t %q", ts)
			}
			if d := now.Sub(time.Unix(sec, 0)); d > webhook.DefaultTolerance || d < -webhook.DefaultTolerance {
				t.Fatalf("accepted t %d, %s from now", sec, d)
			}
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(ts + "."))
			m.Write(body)
			want := m.Sum(nil)
			ok := false
			for _, s := range sigs {
				if b, err := hex.DecodeString(s); err == nil && hmac.Equal(b, want) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("accepted %q without a matching v1", header)
			}
		}
		if err := webhook.Verify(secret, webhook.Sign(secret, now, body), body, now, 0); err != nil {
			t.Fatalf("Sign's own header refused: %v", err)
		}
	})
}

// parse is an independent reading of the header: the last t and every v1.
func parse(header string) (ts string, sigs []string) {
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	return ts, sigs
}
