package invoice

import (
	"math/big"
	"net/url"
	"strconv"
	"strings"
)

// BIP21 builds "bitcoin:<address>?amount=<BTC>&label=…&message=…" (amount in
// BTC with at most 8 decimals, trailing zeros trimmed; parameters
// percent-encoded; empty ones left out).
func BIP21(address string, sats *big.Int, label, message string) string {
	var q []string
	if sats != nil && sats.Sign() > 0 {
		q = append(q, "amount="+FormatTrimmed(sats, 8))
	}
	if label != "" {
		q = append(q, "label="+pathEscape(label))
	}
	if message != "" {
		q = append(q, "message="+pathEscape(message))
	}
	s := "bitcoin:" + address
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

// EIP681Native builds "ethereum:<address>@<chainId>?value=<wei>" with the value
// as plain digits (wallets mis-read exponent forms).
func EIP681Native(address string, chainID uint64, wei *big.Int) string {
	s := "ethereum:" + address + "@" + strconv.FormatUint(chainID, 10)
	if wei != nil && wei.Sign() > 0 {
		s += "?value=" + wei.String()
	}
	return s
}

// EIP681Token builds
// "ethereum:<token>@<chainId>/transfer?address=<to>&uint256=<units>".
func EIP681Token(token string, chainID uint64, to string, units *big.Int) string {
	s := "ethereum:" + token + "@" + strconv.FormatUint(chainID, 10) + "/transfer?address=" + to
	if units != nil && units.Sign() > 0 {
		s += "&uint256=" + units.String()
	}
	return s
}

// pathEscape percent-encodes like url.PathEscape but also encodes '&', '=',
// '?' and '+' so a label never breaks the query.
func pathEscape(s string) string {
	e := url.PathEscape(s)
	r := strings.NewReplacer("&", "%26", "=", "%3D", "?", "%3F", "+", "%2B")
	return r.Replace(e)
}

// Lightning builds "lightning:<bolt11>" (the amount is inside the invoice).
func Lightning(bolt11 string) string { return "lightning:" + bolt11 }

// Unified appends a BOLT11 to a BIP21 URI as its lightning= parameter, so
// one QR code pays from an on-chain or a Lightning wallet (BIP21 unified
// QR as BTCPay and Strike write it).
func Unified(bip21, bolt11 string) string {
	sep := "?"
	if strings.Contains(bip21, "?") {
		sep = "&"
	}
	return bip21 + sep + "lightning=" + bolt11
}

// PaymentURI returns the method's BIP21, EIP-681 or lightning: URI for
// amount (base units). A Lightning invoice's amount is fixed inside it.
func (m *Method) PaymentURI(amount *big.Int, label string) string {
	switch m.Kind {
	case KindLightning:
		return Lightning(m.Address)
	case KindEVM:
		if m.Token != "" {
			return EIP681Token(m.Token, m.ChainID, m.Address, amount)
		}
		return EIP681Native(m.Address, m.ChainID, amount)
	default:
		return BIP21(m.Address, amount, label, "")
	}
}
