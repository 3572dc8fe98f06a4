// Decodes a BOLT11 payment request with an independent library
// (light-bolt11-decoder, pinned in scripts/install-tools.sh) and prints the
// fields payd's Lightning test compares: amount (msat), payment hash,
// expiry (s), timestamp and description.
//
//   NODE_PATH=<cache>/npm/node_modules node bolt11-decode.js lnbcrt…
const { decode } = require("light-bolt11-decoder");
const inv = decode(process.argv[2]);
const section = (name) => (inv.sections.find((s) => s.name === name) || {}).value;
console.log(JSON.stringify({
  amount_msat: String(section("amount")),
  payment_hash: section("payment_hash"),
  expiry: inv.expiry,
  timestamp: section("timestamp"),
  description: section("description"),
}));
