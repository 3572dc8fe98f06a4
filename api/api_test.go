package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSpecLoads(t *testing.T) {
	e := newEnv(t)
	st, h, b := e.do("GET", "/v1/openapi.yaml", "", nil)
	if st != 200 || h.Get("Content-Type") != "application/yaml" || len(b) == 0 {
		t.Fatalf("openapi.yaml: %d %s", st, h.Get("Content-Type"))
	}
}

// TestValidatorCatchesDrift makes sure the OpenAPI check is not vacuous.
func TestValidatorCatchesDrift(t *testing.T) {
	r := specRouter(t)
	req := httptest.NewRequest("GET", "/v1/invoices/inv_0123456789abcdefgh", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	for _, bad := range []struct {
		status int
		body   string
	}{
		{200, `{"id":"inv_x"}`},                                     // missing fields
		{404, `{"error":{"code":"nope","message":"x"}}`},            // unknown code
		{404, `{"error":{"code":"not_found","message":"x"},"a":1}`}, // extra top-level field
	} {
		if err := validateResponse(r, req, bad.status, h, []byte(bad.body)); err == nil {
			t.Errorf("%d %s passed validation", bad.status, bad.body)
		}
	}
	if err := validateResponse(r, req, 404, h, []byte(`{"error":{"code":"not_found","message":"x"}}`)); err != nil {
		t.Errorf("good error failed: %v", err)
	}
}
