package api

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/payd/payd/internal/httpx"
)

// OpenAPI is the API's OpenAPI 3 document (served at GET /v1/openapi.yaml).
//
//go:embed openapi.yaml
var OpenAPI []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(OpenAPI)
	return nil
}

type health struct {
	Status  string   `json:"status"`
	Version string   `json:"version,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// healthz is GET /healthz: the process is alive.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, health{Status: "ok", Version: a.d.Version})
	return nil
}

// notReady is /readyz's 503 body: the contract's error plus the reasons.
type notReady struct {
	Error   *httpx.Error `json:"error"`
	Status  string       `json:"status"`
	Reasons []string     `json:"reasons"`
}

// readyz is GET /readyz: database and chains (Deps.Ready).
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	var reasons []string
	if a.d.Ready != nil {
		reasons = a.d.Ready(r.Context())
	}
	if len(reasons) == 0 {
		httpx.WriteJSON(w, http.StatusOK, health{Status: "ready", Version: a.d.Version})
		return nil
	}
	httpx.WriteJSON(w, http.StatusServiceUnavailable, notReady{
		Error:   &httpx.Error{Code: httpx.CodeUnavailable, Message: "not ready: " + strings.Join(reasons, "; ")},
		Status:  "not_ready",
		Reasons: reasons,
	})
	return nil
}
