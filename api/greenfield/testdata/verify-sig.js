// Independent check of a BTCPay-Sig header, as BTCPay's receivers do it:
// "sha256=" + lowercase hex HMAC-SHA256(secret, raw body). Reads the raw body
// from stdin; secret and header from the environment. Exit 0 = valid.
const crypto = require('crypto');
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const body = Buffer.concat(chunks);
  const want = 'sha256=' + crypto.createHmac('sha256', process.env.SECRET).update(body).digest('hex');
  const got = process.env.HEADER || '';
  const ok = got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want));
  if (!ok) {
    console.error('signature mismatch: got ' + got + ' want ' + want);
    process.exit(1);
  }
});
