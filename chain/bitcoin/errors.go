package bitcoin

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the wrapped message says which
// node and what to fix.
var (
	// ErrAuth: the node refused the credentials (HTTP 401/403).
	ErrAuth = errors.New("rpc auth failed")
	// ErrUnreachable: the node could not be reached (connection refused,
	// timeout, DNS).
	ErrUnreachable = errors.New("node unreachable")
	// ErrWrongNetwork: the node follows another network than configured.
	ErrWrongNetwork = errors.New("wrong network")
	// ErrMalformed: the node's response could not be decoded.
	ErrMalformed = errors.New("malformed rpc response")
	// ErrSyncing: the node is still in initial block download.
	ErrSyncing = errors.New("node is syncing")
	// ErrConfig: the Config is invalid.
	ErrConfig = errors.New("invalid bitcoin config")
)

// RPCError is an error object returned by the node ({"code":…,"message":…}).
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Codes the node uses that payd reacts to.
const (
	// codeWarmup is Core's RPC_IN_WARMUP (loading block index): retry.
	codeWarmup = -28
	// codeNoTx is RPC_INVALID_ADDRESS_OR_KEY, which both Core and btcd
	// return for an unknown transaction or block.
	codeNoTx = -5
)
