package greenfield

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"server-error","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// decode reads body into v tolerantly (unlike /v1): unknown fields and
// explicit nulls are accepted; a wrong type is a 422 naming its path.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		path := te.Field
		if path == "" {
			path = "body"
		}
		return invalid(path, "%s must be a JSON %s", path, kind(te.Type.Kind().String()))
	}
	return invalid("body", "the request body is not valid JSON")
}

func kind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// decimalText reads a JSON string or number as its decimal text (never
// through a float): `"10.00"` and `10.00` both give "10.00"; null gives "".
func decimalText(raw json.RawMessage, path string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", invalid(path, "%s must be a decimal string", path)
		}
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	if err := json.Unmarshal(t, &n); err != nil {
		return "", invalid(path, "%s must be a decimal string or number", path)
	}
	return n.String(), nil
}

// rat parses a plain decimal ("15", "0.5") exactly; no exponent, no sign
// unless allowed by the caller's range check.
func rat(s string) (*big.Rat, bool) {
	if s == "" || strings.ContainsAny(s, "eE+") || len(s) > 40 {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// ratString writes a non-negative rational with at most dec decimals,
// trailing zeros trimmed ("0.5", "2").
func ratString(r *big.Rat, dec int) string {
	s := r.FloatString(dec)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func bigRat(a, b int64) *big.Rat { return big.NewRat(a, b) }

func jsonNumber(s string) json.Number { return json.Number(s) }
