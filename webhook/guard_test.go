package webhook

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
	}
	for _, tc := range tests {
		if got := publicAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("publicAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://8.8.8.8/hook", false, true},
		{"https://127.0.0.1/hook", false, false},
		{"https://[::1]:8443/hook", false, false},
		{"https://169.254.169.254/latest", false, false},
		{"https://localhost/hook", false, false},
		{"https://foo.localhost/hook", false, false},
		{"https://10.0.0.1/", false, false},
		{"http://8.8.8.8/hook", false, false}, // https only without allow_private
		{"http://127.0.0.1:8080/hook", true, true},
		{"ftp://8.8.8.8/", true, false},
		{"https://user:pw@8.8.8.8/", false, false},
		{"/relative", true, false},
		{"https://", true, false},
		{"not a url", true, false},
	}
	for _, tc := range tests {
		err := checkURL(context.Background(), tc.url, tc.allowPrivate, false)
		var ve *ValidationError
		if tc.ok != (err == nil) || err != nil && (!errors.As(err, &ve) || ve.Field != "url") {
			t.Errorf("checkURL(%q, allowPrivate=%v) = %v, want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
	}
}
