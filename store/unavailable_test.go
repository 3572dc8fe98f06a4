package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", ErrNotFound, false},
		{"lease lost", ErrLeaseLost, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "42601"}), false},
		{"query cancelled", &pgconn.PgError{Code: "57014"}, false},
		{"admin shutdown", fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"refused", fmt.Errorf("store: begin: %w", refused), true},
		{"conn closed", fmt.Errorf("store: commit: %w", pgconn.ErrConnClosed), true},
		{"bad conn", driver.ErrBadConn, true},
		{"unexpected EOF", fmt.Errorf("store: methods: %w", io.ErrUnexpectedEOF), true},
		{"closed", net.ErrClosed, true},
		{"the caller's deadline", fmt.Errorf("store: begin: %w", context.DeadlineExceeded), false}, // the API maps it on its own
		{"the caller gone", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := Unavailable(tt.err); got != tt.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	// A real connection attempt to a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := OpenPostgres(ctx, "postgres://payd@"+addr+"/payd?sslmode=disable", PostgresOptions{})
	if err == nil {
		db.Close()
		t.Fatal("connected to a closed port")
	}
	if !Unavailable(err) {
		t.Errorf("Unavailable(%v) = false", err)
	}
}
