package api

import (
	"testing"
)

func TestSpecLoads(t *testing.T) {
	e := newEnv(t)
	st, h, b := e.do("GET", "/v1/openapi.yaml", "", nil)
	if st != 200 || h.Get("Content-Type") != "application/yaml" || len(b) == 0 {
		t.Fatalf("openapi.yaml: %d %s", st, h.Get("Content-Type"))
	}
}
