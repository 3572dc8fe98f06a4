// Package apikey makes and checks payd's API keys. A key is
//
//	payd_<id>_<secret>
//
// where key_<id> is the public identifier stored in the database and used to
// look the key up, and <secret> is 256 random bits of which only a SHA-256
// hash is stored. Hashes are compared in constant time. (A fast hash is right
// here: the secret is random, not a password, so there is nothing to
// brute-force.)
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// Scopes (API.md "Authentication").
const (
	ScopeInvoicesRead  = "invoices:read"
	ScopeInvoicesWrite = "invoices:write"
	ScopeWebhooksRead  = "webhooks:read"
	ScopeWebhooksWrite = "webhooks:write"
)

// AllScopes is what a key made without --scope gets.
var AllScopes = []string{ScopeInvoicesRead, ScopeInvoicesWrite, ScopeWebhooksRead, ScopeWebhooksWrite}

// ErrMalformed: the string is not a payd API key.
var ErrMalformed = errors.New("apikey: malformed key")

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Key is a stored API key (never the secret).
type Key struct {
	ID         string // key_…
	Name       string
	Hash       string // hex SHA-256 of the secret
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Has reports whether the key carries scope.
func (k Key) Has(scope string) bool { return slices.Contains(k.Scopes, scope) }

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// Generate makes a new key: the full secret string to show once, and the Key
// to store.
func Generate(name string, scopes []string, now time.Time) (secret string, k Key, err error) {
	if len(scopes) == 0 {
		scopes = AllScopes
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return "", Key{}, fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(AllScopes, ", "))
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Key{}, err
	}
	sec := strings.ToLower(enc.EncodeToString(raw[:]))
	id := invoice.NewID(invoice.PrefixAPIKey, now)
	k = Key{ID: id, Name: name, Hash: Hash(sec), Scopes: slices.Clone(scopes), CreatedAt: now.UTC()}
	return "payd_" + strings.TrimPrefix(id, invoice.PrefixAPIKey) + "_" + sec, k, nil
}

// Parse splits a presented key into its id (key_…) and secret.
func Parse(s string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(s, "payd_")
	if !ok {
		return "", "", ErrMalformed
	}
	idPart, sec, ok := strings.Cut(rest, "_")
	if !ok || idPart == "" || len(sec) < 32 || len(sec) > 128 {
		return "", "", ErrMalformed
	}
	id = invoice.PrefixAPIKey + idPart
	if !invoice.ValidID(id, invoice.PrefixAPIKey) {
		return "", "", ErrMalformed
	}
	return id, sec, nil
}

// Hash returns the hex SHA-256 of a secret.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Verify compares a presented secret with a stored hash in constant time.
func Verify(secret, storedHash string) bool {
	got := Hash(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}
