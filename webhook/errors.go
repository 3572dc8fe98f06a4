package webhook

import (
	"errors"
	"fmt"
)

// ErrNotFound: no such endpoint or event.
var ErrNotFound = errors.New("webhook: not found")

// Verify errors.
var (
	// ErrSignatureHeader: the Payd-Signature header is missing or malformed.
	ErrSignatureHeader = errors.New("webhook: malformed signature header")
	// ErrTimestamp: the signature's t is outside the tolerance.
	ErrTimestamp = errors.New("webhook: signature timestamp outside tolerance")
	// ErrSignature: no v1 signature matches the body and secret.
	ErrSignature = errors.New("webhook: signature mismatch")
)

// ValidationError says which input field is wrong and why; the API maps it to
// 400 invalid_field. DeleteEndpoint also returns it (Field "id") for an
// endpoint that comes from the config file: remove it there instead.
type ValidationError struct {
	Field   string
	Message string
}

// Error returns "webhook: <field>: <message>".
func (e *ValidationError) Error() string {
	return fmt.Sprintf("webhook: %s: %s", e.Field, e.Message)
}
