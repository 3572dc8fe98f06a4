// Package httpx holds the few HTTP helpers every delivery package (api,
// checkout, live) shares so that errors look the same everywhere:
// {"error":{"code":…,"message":…,"field":…}} with the contract's codes
// (API.md "Conventions"), strict JSON decoding, and JSON responses.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// The contract's error codes.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidField     = "invalid_field"
	CodeInvalidAmount    = "invalid_amount"
	CodeUnknownCurrency  = "unknown_currency"
	CodeUnknownMethod    = "unknown_method"
	CodeNoRate           = "no_rate"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeBodyTooLarge     = "body_too_large"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeUnsupportedType  = "unsupported_media_type"
	CodeMethodNotAllowed = "method_not_allowed"
)

// MaxBody is the largest request body accepted (1 MiB).
const MaxBody = 1 << 20

// Error is an API error: an HTTP status and the contract's body.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter, in seconds, is sent as Retry-After when > 0.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf makes an *Error.
func Errorf(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Common errors.
func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: what + " not found"}
}

// InvalidField is a 400 invalid_field for one field.
func InvalidField(field, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeInvalidField, field, format, args...)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// WriteError writes err in the contract's shape. An error that is not an
// *Error becomes 500 internal; its text is logged (with the request id), never
// sent.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if log == nil {
			log = slog.Default()
		}
		log.Error("internal error", "err", err, "request_id", w.Header().Get("X-Request-Id"))
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	b, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// Decode reads a JSON request body into v strictly: Content-Type must be
// application/json, the body at most MaxBody, no unknown fields (→
// invalid_field naming the field), exactly one JSON value.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return Errorf(http.StatusUnsupportedMediaType, CodeInvalidJSON, "", "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "", "request body is larger than %d bytes", MaxBody)
		}
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "could not read the request body")
	}
	return DecodeBytes(body, v)
}

// DecodeBytes is Decode for a body already read.
func DecodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body has more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body has data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "truncated JSON")
	case errors.As(err, &te):
		field := te.Field
		if te.Value == "number" && (te.Type.Kind().String() == "string") {
			return Errorf(http.StatusBadRequest, CodeInvalidField, field, "%s must be a string (money is a decimal string such as \"25.00\")", field)
		}
		return Errorf(http.StatusBadRequest, CodeInvalidField, field, "%s must be a JSON %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Errorf(http.StatusBadRequest, CodeInvalidField, f, "unknown field %q", f)
	}
	return Errorf(http.StatusBadRequest, CodeInvalidJSON, "", "malformed JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	}
	return goKind
}
