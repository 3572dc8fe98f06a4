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

// Readiness is what Deps.Ready reports for /readyz.
type Readiness struct {
	// Reasons payd is not ready; none = ready.
	Reasons []string
	// Database is the database's health (nil: not shown).
	Database *DatabaseHealth
	// Instance is this instance's part when several payd share one
	// PostgreSQL database (nil on SQLite).
	Instance *InstanceHealth
}

// DatabaseHealth is /readyz's "database": whether a ping (SELECT 1)
// answered, and how long it took (up to its timeout when it did not).
type DatabaseHealth struct {
	Driver    string  `json:"driver"` // sqlite or postgres
	Reachable bool    `json:"reachable"`
	PingMS    float64 `json:"ping_ms"`
}

// InstanceHealth is /readyz's "instance": one payd of several on one
// PostgreSQL database, the leases it holds and who holds every lease.
type InstanceHealth struct {
	// ID is this instance's holder id in the lease table and in its webhook
	// claims (host-pid-random).
	ID string `json:"id"`
	// Leads are the chains whose watcher runs here.
	Leads []string `json:"leads"`
	// Leases are the leases this instance holds.
	Leases []LeaseHealth `json:"leases"`
	// Leaders maps every unexpired lease to its holder, as the lease table
	// says (absent when the database cannot be read).
	Leaders map[string]string `json:"leaders,omitempty"`
}

// LeaseHealth is one lease an instance holds.
type LeaseHealth struct {
	Name  string `json:"name"`
	Token int64  `json:"token"` // the fencing token
	// AgeSeconds is the time since the last renewal (renewed every ~3 s;
	// the lease runs out after 10 s without one).
	AgeSeconds float64 `json:"age_seconds"`
	ExpiresAt  string  `json:"expires_at"` // RFC 3339, UTC
}

// readyBody is /readyz's body: 200 {"status":"ready",…}, or 503 with the
// contract's error and the reasons.
type readyBody struct {
	Error    *httpx.Error    `json:"error,omitempty"`
	Status   string          `json:"status"`
	Version  string          `json:"version,omitempty"`
	Reasons  []string        `json:"reasons,omitempty"`
	Database *DatabaseHealth `json:"database,omitempty"`
	Instance *InstanceHealth `json:"instance,omitempty"`
}

// healthz is GET /healthz: the process is alive.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, health{Status: "ok", Version: a.d.Version})
	return nil
}

// readyz is GET /readyz: database and chains (Deps.Ready), and what payd
// knows of the database and of this instance.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	var rd Readiness
	if a.d.Ready != nil {
		rd = a.d.Ready(r.Context())
	}
	body := readyBody{Status: "ready", Version: a.d.Version, Database: rd.Database, Instance: rd.Instance}
	if len(rd.Reasons) == 0 {
		httpx.WriteJSON(w, http.StatusOK, body)
		return nil
	}
	body.Error = &httpx.Error{Code: httpx.CodeUnavailable, Message: "not ready: " + strings.Join(rd.Reasons, "; ")}
	body.Status, body.Reasons = "not_ready", rd.Reasons
	httpx.WriteJSON(w, http.StatusServiceUnavailable, body)
	return nil
}
