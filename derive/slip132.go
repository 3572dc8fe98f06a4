package derive

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
)

// scriptType is the kind of output script a Deriver produces.
type scriptType uint8

const (
	scriptUnknown scriptType = iota
	scriptP2PKH
	scriptP2SHP2WPKH
	scriptP2WPKH
	scriptP2TR
	scriptEVM
	scriptMultisig // SLIP-132 multisig prefixes: recognised only to refuse them
)

// String returns the name Deriver.Type reports.
func (t scriptType) String() string {
	switch t {
	case scriptP2PKH:
		return "p2pkh"
	case scriptP2SHP2WPKH:
		return "p2sh-p2wpkh"
	case scriptP2WPKH:
		return "p2wpkh"
	case scriptP2TR:
		return "p2tr"
	case scriptEVM:
		return "evm"
	case scriptMultisig:
		return "multisig"
	default:
		return fmt.Sprintf("scriptType(%d)", uint8(t))
	}
}

// slipVersion is one SLIP-132 registered version of the BIP32 serialization.
type slipVersion struct {
	prefix  string // what the base58 string starts with: "zpub"
	version uint32
	private bool
	testnet bool // tpub family: testnet, signet and regtest
	script  scriptType
}

// slip132 lists the registered Bitcoin versions
// (https://github.com/satoshilabs/slips/blob/master/slip-0132.md).
// xpub/tpub are "P2PKH or P2SH"; a bare one is read as P2PKH, and descriptors
// say the script type explicitly.
var slip132 = []slipVersion{
	{"xpub", 0x0488b21e, false, false, scriptP2PKH},
	{"xprv", 0x0488ade4, true, false, scriptP2PKH},
	{"ypub", 0x049d7cb2, false, false, scriptP2SHP2WPKH},
	{"yprv", 0x049d7878, true, false, scriptP2SHP2WPKH},
	{"zpub", 0x04b24746, false, false, scriptP2WPKH},
	{"zprv", 0x04b2430c, true, false, scriptP2WPKH},
	{"Ypub", 0x0295b43f, false, false, scriptMultisig},
	{"Yprv", 0x0295b005, true, false, scriptMultisig},
	{"Zpub", 0x02aa7ed3, false, false, scriptMultisig},
	{"Zprv", 0x02aa7a99, true, false, scriptMultisig},
	{"tpub", 0x043587cf, false, true, scriptP2PKH},
	{"tprv", 0x04358394, true, true, scriptP2PKH},
	{"upub", 0x044a5262, false, true, scriptP2SHP2WPKH},
	{"uprv", 0x044a4e28, true, true, scriptP2SHP2WPKH},
	{"Upub", 0x024289ef, false, true, scriptMultisig},
	{"Uprv", 0x024285b5, true, true, scriptMultisig},
	{"vpub", 0x045f1cf6, false, true, scriptP2WPKH},
	{"vprv", 0x045f18bc, true, true, scriptP2WPKH},
	{"Vpub", 0x02575483, false, true, scriptMultisig},
	{"Vprv", 0x02575048, true, true, scriptMultisig},
}

// lookupVersion finds the SLIP-132 entry for 4 version bytes.
func lookupVersion(v []byte) (slipVersion, bool) {
	if len(v) != 4 {
		return slipVersion{}, false
	}
	n := binary.BigEndian.Uint32(v)
	for _, s := range slip132 {
		if s.version == n {
			return s, true
		}
	}
	return slipVersion{}, false
}

// publicVersion returns the public entry for a script type and network family.
func publicVersion(script scriptType, testnet bool) slipVersion {
	for _, s := range slip132 {
		if !s.private && s.testnet == testnet && s.script == script {
			return s
		}
	}
	return slipVersion{}
}

// versionBytes returns the 4 serialized version bytes.
func (s slipVersion) versionBytes() []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], s.version)
	return b[:]
}

// network is a Bitcoin network payd can derive for.
type network struct {
	name    string
	params  *chaincfg.Params
	testnet bool // uses the tpub family of version bytes
}

// networks are the accepted network names.
var networks = []network{
	{"mainnet", &chaincfg.MainNetParams, false},
	{"testnet", &chaincfg.TestNet3Params, true},
	{"signet", &chaincfg.SigNetParams, true},
	{"regtest", &chaincfg.RegressionNetParams, true},
}

// lookupNetwork resolves a network name.
func lookupNetwork(name string) (network, error) {
	for _, n := range networks {
		if n.name == name {
			return n, nil
		}
	}
	return network{}, fmt.Errorf("%w %q: use mainnet, testnet, signet or regtest", ErrUnknownNetwork, name)
}

// checkNetwork returns ErrNetworkMismatch when v's family does not match net.
func checkNetwork(v slipVersion, net network) error {
	if v.testnet == net.testnet {
		return nil
	}
	want := publicVersion(v.script, net.testnet).prefix
	kind := "mainnet"
	if v.testnet {
		kind = "testnet"
	}
	return fmt.Errorf("%w: %s is a %s key but network is %s, which expects %s", ErrNetworkMismatch, v.prefix, kind, net.name, want)
}
