package lightning

import "errors"

// Sentinel errors. Match them with errors.Is; the wrapped message says which
// node and what to fix.
var (
	// ErrConfig: the Config is invalid (missing file, bad URL, a macaroon
	// that is not an lnd macaroon).
	ErrConfig = errors.New("invalid lightning config")
	// ErrMacaroonTooPowerful: the macaroon grants more than payd may hold
	// (an admin macaroon can spend the node's funds).
	ErrMacaroonTooPowerful = errors.New("macaroon grants more than invoices")
	// ErrAuth: LND refused the macaroon (HTTP 401/403, permission denied).
	ErrAuth = errors.New("lnd refused the macaroon")
	// ErrUnreachable: LND could not be reached.
	ErrUnreachable = errors.New("lnd unreachable")
	// ErrWrongNetwork: LND runs on another network than configured.
	ErrWrongNetwork = errors.New("wrong network")
)
