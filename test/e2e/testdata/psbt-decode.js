// Decodes a PSBT (base64 on stdin) with bitcoinjs-lib, a library payd does
// not otherwise use, and prints its inputs, outputs and BIP32 derivations as
// JSON: the independent check of refund_test.go.
const { Psbt } = require('bitcoinjs-lib');
let b64 = '';
process.stdin.on('data', (d) => (b64 += d));
process.stdin.on('end', () => {
  const p = Psbt.fromBase64(b64.trim());
  const der = (d) => (d || []).map((x) => ({ fingerprint: x.masterFingerprint.toString('hex'), path: x.path, pubkey: x.pubkey.toString('hex') }));
  const out = {
    inputs: p.txInputs.map((t, i) => ({
      txid: Buffer.from(t.hash).reverse().toString('hex'),
      vout: t.index,
      witness_value: p.data.inputs[i].witnessUtxo ? Number(p.data.inputs[i].witnessUtxo.value) : null,
      has_non_witness_utxo: !!p.data.inputs[i].nonWitnessUtxo,
      derivations: der(p.data.inputs[i].bip32Derivation),
    })),
    outputs: p.txOutputs.map((o, i) => ({ script: o.script.toString('hex'), value: Number(o.value), derivations: der(p.data.outputs[i].bip32Derivation) })),
  };
  process.stdout.write(JSON.stringify(out));
});
