package lightning

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Op is one permission an lnd macaroon grants: entity and action
// ("invoices", "write").
type Op struct {
	Entity string
	Action string
}

// String returns "entity:action" as lncli prints it.
func (o Op) String() string { return o.Entity + ":" + o.Action }

// MacaroonOps decodes the permissions of an lnd macaroon (the binary file
// lnd writes, macaroon format v2). lnd puts them in the macaroon's
// identifier: one version byte (3) and a protobuf MacaroonId
// {nonce = 1, storageId = 2, repeated Op ops = 3}, Op {entity = 1,
// repeated actions = 2}; `lncli printmacaroon` shows the same list.
func MacaroonOps(raw []byte) ([]Op, error) {
	id, err := macaroonID(raw)
	if err != nil {
		return nil, err
	}
	if len(id) == 0 || id[0] != 3 {
		return nil, errors.New("not an lnd macaroon (identifier version is not 3)")
	}
	var ops []Op
	err = eachField(id[1:], func(num int, val []byte) error {
		if num != 3 {
			return nil
		}
		var entity string
		var actions []string
		if err := eachField(val, func(n int, v []byte) error {
			switch n {
			case 1:
				entity = string(v)
			case 2:
				actions = append(actions, string(v))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, a := range actions {
			ops = append(ops, Op{Entity: entity, Action: a})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("macaroon identifier: %w", err)
	}
	return ops, nil
}

// macaroonID returns the identifier of a v2 binary macaroon: version byte
// 2, then fields (type varint, length varint, data) with location = 1 and
// identifier = 2, ended by an end-of-section 0.
func macaroonID(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != 2 {
		return nil, errors.New("not a binary v2 macaroon (give the .macaroon file lnd wrote)")
	}
	b := raw[1:]
	for len(b) > 0 {
		typ, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("truncated macaroon")
		}
		b = b[n:]
		if typ == 0 {
			break
		}
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errors.New("truncated macaroon")
		}
		data := b[n : n+int(l)]
		b = b[n+int(l):]
		if typ == 2 {
			return data, nil
		}
	}
	return nil, errors.New("macaroon has no identifier")
}

// eachField walks the length-delimited fields of a protobuf message (the
// only wire type lnd's MacaroonId uses besides none); varint fields are
// skipped.
func eachField(b []byte, fn func(num int, val []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad protobuf key")
		}
		b = b[n:]
		switch key & 7 {
		case 0:
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad protobuf varint")
			}
			b = b[n:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errors.New("truncated protobuf field")
			}
			if err := fn(int(key>>3), b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		default:
			return fmt.Errorf("unexpected protobuf wire type %d", key&7)
		}
	}
	return nil
}

// invoiceOps are the permissions payd may hold: lnd's invoice.macaroon
// (invoices read/write, address read/write, onchain read) plus the read
// permissions readiness uses (info:read for getinfo, offchain:read for the
// channels' inbound capacity). None of them can move the node's funds.
var invoiceOps = []Op{
	{"invoices", "read"}, {"invoices", "write"},
	{"address", "read"}, {"address", "write"},
	{"onchain", "read"}, {"info", "read"}, {"offchain", "read"},
	{"peers", "read"},
}

// CheckMacaroon refuses a macaroon that grants anything beyond reading and
// creating invoices and reading the node's state: lnd's admin.macaroon
// (which can pay invoices and send on-chain funds) is refused the way payd
// refuses an xprv. readOnly narrows it to read actions only (for the
// readonly_macaroon used for health checks).
func CheckMacaroon(raw []byte, readOnly bool) ([]Op, error) {
	ops, err := MacaroonOps(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var extra []string
	for _, op := range ops {
		if readOnly {
			if op.Action != "read" {
				extra = append(extra, op.String())
			}
			continue
		}
		if !slices.Contains(invoiceOps, op) {
			extra = append(extra, op.String())
		}
	}
	if len(extra) > 0 {
		kind := "a macaroon"
		if slices.Contains(ops, Op{"offchain", "write"}) && slices.Contains(ops, Op{"onchain", "write"}) {
			kind = "an admin macaroon"
		}
		return ops, fmt.Errorf("%w: this is %s (it grants %s); payd only creates and reads invoices",
			ErrMacaroonTooPowerful, kind, strings.Join(extra, " "))
	}
	return ops, nil
}
