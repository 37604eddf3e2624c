#!/usr/bin/env node
// Real-browser end-to-end test of the Kinfold web console.
//
// A teacher of the first demo center signs in through /login with password and a TOTP code
// (computed here, RFC 6238), lands on the home page, survives a reload, and sees the current
// session on /account/sessions. Debian's Chromium runs headless, driven by playwright-core.
// Throughout, no Content Security Policy violation may occur (console messages and the
// `securitypolicyviolation` event are both watched), and every page must carry a nonce-based CSP.
//
// Env:
//   BASE_URL     e.g. http://127.0.0.1:18099 (a running `kinfold demo`)
//   CREDENTIALS  path to that demo's demo-credentials.json
//   OUT_DIR      optional: where to write console.png (and sessions.png)
//   CHROMIUM     optional: browser binary (default /usr/bin/chromium)
//
// Exit code 0 on success; 1 with a "FAIL: ..." message otherwise.
// Usually run through scripts/browser-test.sh, which starts the demo server.

import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const started = Date.now();
const STEP_TIMEOUT_MS = 15_000;

class TestFailure extends Error {}

function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}

// ---------------------------------------------------------------- TOTP (RFC 6238 / RFC 4226)

function base32Decode(input) {
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

function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

function totp(secretBase32, unixSeconds = Date.now() / 1000, { step = 30, digits = 6 } = {}) {
  return hotp(base32Decode(secretBase32), Math.floor(unixSeconds / step), digits);
}

// RFC 6238 appendix B (SHA-1): the ASCII key "12345678901234567890" in base32.
function selfTestTotp() {
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

/** A code that stays valid for at least `marginS` seconds: near a step boundary, wait it out. */
async function freshTotp(secret, marginS = 4) {
  const now = Date.now() / 1000;
  const left = 30 - (now % 30);
  if (left < marginS) await new Promise((r) => setTimeout(r, (left + 0.5) * 1000));
  return totp(secret);
}

// ---------------------------------------------------------------- helpers

function env(name) {
  const v = process.env[name];
  if (!v) throw new TestFailure(`environment variable ${name} is not set`);
  return v;
}

function checkCspHeader(response, where) {
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
function cspListenerInitScript() {
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

// ---------------------------------------------------------------- the test

async function main() {
  selfTestTotp();

  const baseUrl = env('BASE_URL').replace(/\/+$/, '');
  const credentialsPath = env('CREDENTIALS');
  const outDir = process.env.OUT_DIR || '';
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

  let creds;
  try {
    creds = JSON.parse(await readFile(credentialsPath, 'utf8'));
  } catch (e) {
    throw new TestFailure(`cannot read credentials ${credentialsPath}: ${e.message}`);
  }
  const tenant = creds?.tenants?.[0];
  check(tenant?.slug, 'credentials: no tenants[0].slug');
  const teacher = (tenant.users || []).find((u) => u.role === 'teacher');
  check(teacher, `credentials: tenant ${tenant.slug} has no teacher`);
  check(teacher.totp_secret, `credentials: teacher ${teacher.email} has no totp_secret`);

  // Everything the page reports, gathered across navigations.
  const consoleCsp = []; // console messages about CSP
  const eventCsp = []; // securitypolicyviolation events
  const pageErrors = [];
  const badResponses = [];
  const failedRequests = [];

  const userDataDir = await mkdtemp(join(tmpdir(), 'kinfold-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
      viewport: { width: 1100, height: 760 },
      timeout: 60_000,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);

    await context.exposeBinding('__kinfoldReportCsp', (_source, v) => {
      eventCsp.push(v);
    });
    await context.addInitScript(cspListenerInitScript);

    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => {
      const text = msg.text();
      if (/Content Security Policy|Refused to/i.test(text)) consoleCsp.push(`[${msg.type()}] ${text}`);
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('requestfailed', (req) => {
      failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
    page.on('response', (res) => {
      const url = new URL(res.url());
      // Chromium asks for /favicon.ico on its own; the console does not link one.
      if (res.status() >= 400 && url.pathname !== '/favicon.ico') badResponses.push(`${res.status()} ${res.url()}`);
    });

    // Violations that fired in the current document (the binding normally has them already).
    const eventsSeen = new Set();
    async function harvest() {
      const inPage = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
      for (const v of inPage) {
        const key = JSON.stringify(v);
        if (!eventsSeen.has(key)) {
          eventsSeen.add(key);
          if (!eventCsp.some((e) => JSON.stringify(e) === key)) eventCsp.push(v);
        }
      }
    }

    async function stylesheetApplied(where) {
      const rules = await page.evaluate(() =>
        [...document.styleSheets].map((s) => {
          try {
            return { href: s.href, rules: s.cssRules.length };
          } catch {
            return { href: s.href, rules: -1 };
          }
        }),
      );
      const app = rules.find((r) => r.href && new URL(r.href).pathname === '/static/app.css');
      check(app && app.rules > 0, `${where}: /static/app.css is not applied (stylesheets: ${JSON.stringify(rules)})`);
    }

    // 1. The sign-in form.
    const loginResp = await page.goto(`${baseUrl}/login`, { waitUntil: 'load' });
    check(loginResp.status() === 200, `GET /login answered ${loginResp.status()}`);
    const csp = checkCspHeader(loginResp, 'GET /login');
    await stylesheetApplied('/login');
    await harvest();
    await page.locator('input[name="tenant"]').fill(tenant.slug);
    await page.locator('input[name="email"]').fill(teacher.email);
    await page.locator('input[name="password"]').fill(teacher.password);
    const [pwResp] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.locator('form[action="/login"] button[type="submit"]').click(),
    ]);
    checkCspHeader(pwResp, 'POST /login');

    // 2. Two-step verification.
    const codeInput = page.locator('input[name="code"]');
    if ((await codeInput.count()) === 0) {
      const alert = await page.locator('[role="alert"]').allInnerTexts();
      throw new TestFailure(
        `after the password step there is no MFA form (status ${pwResp.status()}, url ${page.url()}, ` +
          `alert: ${JSON.stringify(alert)})`,
      );
    }
    const mfaToken = await page.locator('input[name="mfa_token"]').getAttribute('value');
    check(mfaToken && mfaToken.length > 0, 'MFA page has no hidden mfa_token value');
    await harvest();
    async function submitCode() {
      await codeInput.fill(await freshTotp(teacher.totp_secret));
      const [resp] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.locator('form[action="/login/mfa"] button[type="submit"]').click(),
      ]);
      return resp;
    }
    let mfaResp = await submitCode();
    let note = '';
    // The server refuses a TOTP time step that was already used (replay protection). Against a
    // fresh demo that cannot happen; against a reused server, a run within the same 30 s as the
    // previous one can. Then wait for the next step and try once more, and say so.
    if (new URL(page.url()).pathname === '/login/mfa' && (await codeInput.count()) > 0) {
      const alert = (await page.locator('[role="alert"]').allInnerTexts()).join(' ');
      if (/already used/i.test(alert)) {
        const waitS = 30 - ((Date.now() / 1000) % 30) + 0.5;
        console.log(`NOTE: code refused (${alert.trim()}); waiting ${waitS.toFixed(1)}s for the next TOTP step`);
        // That refusal is expected here; any other error response still counts.
        const i = badResponses.findIndex((r) => r.startsWith('401 ') && r.endsWith('/login/mfa'));
        if (i >= 0) badResponses.splice(i, 1);
        await page.waitForTimeout(waitS * 1000);
        await harvest();
        mfaResp = await submitCode();
        note = ' (TOTP retried once: time step already used)';
      }
    }

    // 3. Home: "Welcome, <name>" and the center in <strong>.
    const homeUrl = new URL(page.url());
    if (homeUrl.pathname !== '/') {
      const alert = await page.locator('[role="alert"]').allInnerTexts();
      throw new TestFailure(
        `after the MFA step the browser is at ${page.url()} (status ${mfaResp?.status()}), ` +
          `not /; alert: ${JSON.stringify(alert)}`,
      );
    }
    checkCspHeader(mfaResp, 'GET / after sign-in');
    const h1 = (await page.locator('main h1').innerText()).trim();
    check(h1 === `Welcome, ${teacher.name}`, `home h1 is ${JSON.stringify(h1)}, want "Welcome, ${teacher.name}"`);
    const center = (await page.locator('main strong').first().innerText()).trim();
    check(center === tenant.name, `home shows center ${JSON.stringify(center)}, want ${JSON.stringify(tenant.name)}`);
    const homeText = await page.locator('main').innerText();
    check(homeText.includes(teacher.email), `home page does not show ${teacher.email}`);
    check(/\bas teacher\b/.test(homeText), `home page does not say the role is teacher: ${JSON.stringify(homeText)}`);
    await stylesheetApplied('/');

    // The session cookie must be out of reach of page scripts.
    const cookies = await context.cookies(baseUrl);
    check(cookies.length > 0, 'no cookie was set by sign-in');
    for (const c of cookies) {
      check(c.httpOnly, `cookie ${c.name} is not HttpOnly`);
      check(c.sameSite === 'Lax' || c.sameSite === 'Strict', `cookie ${c.name} has SameSite=${c.sameSite}`);
    }
    const docCookie = await page.evaluate(() => document.cookie);
    check(docCookie === '', `document.cookie exposes ${JSON.stringify(docCookie)}`);
    await harvest();

    // 4. Reload: still signed in.
    const reloadResp = await page.reload({ waitUntil: 'load' });
    check(reloadResp.status() === 200, `reload of / answered ${reloadResp.status()}`);
    checkCspHeader(reloadResp, 'reload of /');
    check(new URL(page.url()).pathname === '/', `after reload the browser is at ${page.url()}, not /`);
    const h1Again = (await page.locator('main h1').innerText()).trim();
    check(h1Again === h1, `after reload the h1 is ${JSON.stringify(h1Again)}, was ${JSON.stringify(h1)}`);
    if (outDir) {
      await mkdir(outDir, { recursive: true });
      await page.screenshot({ path: join(outDir, 'console.png'), fullPage: true });
    }
    await harvest();

    // 5. My sessions: a table with this session in it.
    const sessResp = await page.goto(`${baseUrl}/account/sessions`, { waitUntil: 'load' });
    check(sessResp.status() === 200, `GET /account/sessions answered ${sessResp.status()}`);
    checkCspHeader(sessResp, 'GET /account/sessions');
    check(
      new URL(page.url()).pathname === '/account/sessions',
      `/account/sessions sent the browser to ${page.url()} (signed out?)`,
    );
    const rows = page.locator('main table tbody tr');
    const rowCount = await rows.count();
    check(rowCount >= 1, 'the sessions table has no rows');
    const thisRows = rows.filter({ hasText: 'This session' });
    check((await thisRows.count()) === 1, `want exactly one row marked "This session", found ${await thisRows.count()}`);
    const thisRowText = await thisRows.first().innerText();
    check(/HeadlessChrome|Chrom/i.test(thisRowText), `"This session" row does not name the browser: ${thisRowText}`);
    if (outDir) await page.screenshot({ path: join(outDir, 'sessions.png'), fullPage: true });
    await page.waitForTimeout(250); // let any late violation event arrive
    await harvest();

    // 6. No CSP violations, by either channel.
    check(
      consoleCsp.length === 0 && eventCsp.length === 0,
      `CSP violations: ${consoleCsp.length} console message(s), ${eventCsp.length} securitypolicyviolation event(s)\n` +
        [...consoleCsp, ...eventCsp.map((v) => JSON.stringify(v))].map((s) => `  ${s}`).join('\n'),
    );
    check(pageErrors.length === 0, `page errors:\n  ${pageErrors.join('\n  ')}`);
    check(badResponses.length === 0, `error responses:\n  ${badResponses.join('\n  ')}`);
    const realFailures = failedRequests.filter((f) => !f.includes('/favicon.ico'));
    check(realFailures.length === 0, `failed requests:\n  ${realFailures.join('\n  ')}`);

    // 7. The watchers work: an inline <style> without the nonce must be refused and seen twice.
    await page.evaluate(() => {
      const s = document.createElement('style');
      s.textContent = 'body { outline: 1px solid red; }';
      document.head.appendChild(s);
    });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (consoleCsp.length === 0 || eventCsp.length === 0)) {
      await page.waitForTimeout(100);
      await harvest();
    }
    check(
      consoleCsp.length > 0 && eventCsp.length > 0,
      `the CSP watchers did not see a deliberate inline-style violation ` +
        `(console: ${consoleCsp.length}, events: ${eventCsp.length}); the zero above proves nothing`,
    );

    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `PASS browser console test: ${teacher.name} (teacher, ${tenant.slug}) signed in with TOTP, ` +
        `reload kept the session, ${rowCount} session row(s), 0 CSP violations, ` +
        `CSP ${csp.includes("'strict-dynamic'") ? 'nonce+strict-dynamic' : 'nonce'}; ${secs}s` +
        (outDir ? `; screenshots in ${outDir}` : '') +
        note,
    );
    console.log('1 passed, 0 failed');
  } finally {
    if (context) await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
}

try {
  await main();
  process.exit(0);
} catch (e) {
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (e instanceof TestFailure) console.error(`FAIL: ${e.message}`);
  else console.error(`FAIL: unexpected error: ${e?.stack || e}`);
  console.error(`FAIL browser console test after ${secs}s`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
