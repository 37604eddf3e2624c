// What every browser scenario shares: the failure type and `check`, TOTP codes (RFC 6238),
// the environment, and the Content Security Policy checks.

import { createHmac } from 'node:crypto';

export const STEP_TIMEOUT_MS = 15_000;

export class TestFailure extends Error {}

export function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}

// ---------------------------------------------------------------- TOTP (RFC 6238 / RFC 4226)

export function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = input.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new TestFailure(`TOTP secret is not base32 (bad character ${JSON.stringify(ch)})`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

export function totp(secretBase32, unixSeconds = Date.now() / 1000, { step = 30, digits = 6 } = {}) {
  return hotp(base32Decode(secretBase32), Math.floor(unixSeconds / step), digits);
}

// RFC 6238 appendix B (SHA-1): the ASCII key "12345678901234567890" in base32.
export function selfTestTotp() {
  const key = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  const vectors = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1234567890, '89005924'],
    [20000000000, '65353130'],
  ];
  for (const [t, want] of vectors) {
    const got = totp(key, t, { digits: 8 });
    check(got === want, `TOTP self-test failed at T=${t}: got ${got}, want ${want}`);
  }
  check(totp(key, 59) === '287082', 'TOTP self-test failed for 6 digits');
}

// The server accepts each TOTP time step once per account (replay protection). Remember which
// step each secret last used, so that a second sign-in of the same account waits for the next.
export const lastTotpStep = new Map();

/** A code that stays valid for at least `marginS` seconds and whose step this run has not used. */
export async function freshTotp(secret, marginS = 4) {
  for (;;) {
    const now = Date.now() / 1000;
    const step = Math.floor(now / 30);
    const left = 30 - (now % 30);
    if (lastTotpStep.get(secret) === step || left < marginS) {
      await new Promise((r) => setTimeout(r, (left + 0.5) * 1000));
      continue;
    }
    lastTotpStep.set(secret, step);
    return totp(secret, now);
  }
}

// ---------------------------------------------------------------- helpers

export function env(name) {
  const v = process.env[name];
  if (!v) throw new TestFailure(`environment variable ${name} is not set`);
  return v;
}

export function checkCspHeader(response, where) {
  check(response, `no response for ${where}`);
  const headers = response.headers(); // lower-cased names
  const csp = headers['content-security-policy'];
  check(csp, `${where}: response has no content-security-policy header`);
  check(/'nonce-[A-Za-z0-9+/=_-]+'/.test(csp), `${where}: CSP has no 'nonce-…' source: ${csp}`);
  check(!csp.includes('unsafe-inline'), `${where}: CSP allows 'unsafe-inline': ${csp}`);
  check(!csp.includes('unsafe-eval'), `${where}: CSP allows 'unsafe-eval': ${csp}`);
  return csp;
}

// Installed before any page script; CDP-injected, so the page's CSP does not apply to it.
export function cspListenerInitScript() {
  window.__cspViolations = window.__cspViolations || [];
  document.addEventListener('securitypolicyviolation', (e) => {
    const v = {
      directive: e.violatedDirective,
      effective: e.effectiveDirective,
      blocked: e.blockedURI,
      source: e.sourceFile,
      line: e.lineNumber,
      sample: e.sample,
      page: location.pathname,
    };
    window.__cspViolations.push(v);
    // Also hand it to Node at once, so violations survive navigation.
    if (typeof window.__kinfoldReportCsp === 'function') window.__kinfoldReportCsp(v).catch(() => {});
  });
}
