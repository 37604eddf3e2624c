// A scenario's browser context (with its watchers for CSP violations, page errors and error
// responses), signing in through /login and /login/mfa, and finding a demo user.

import { STEP_TIMEOUT_MS, TestFailure, check, checkCspHeader, cspListenerInitScript, freshTotp } from './helpers.mjs';

// ---------------------------------------------------------------- per-scenario browser context

/**
 * A fresh browser context with one page and watchers for CSP violations, page errors, failed
 * requests and error responses. `expectStatus(path, status)` allows one such response
 * (a deliberate 404, say); `assertClean(where)` fails on anything else that was seen.
 */
export async function openScenario(browser, baseUrl) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);

  const w = {
    context,
    page: null,
    baseUrl,
    consoleCsp: [], // console messages about CSP
    eventCsp: [], // securitypolicyviolation events
    pageErrors: [],
    badResponses: [], // >= 400, not expected
    serverErrors: [], // >= 500, never expected
    failedRequests: [],
    expected: new Map(), // "404 /children/…" -> times allowed
  };

  await context.exposeBinding('__kinfoldReportCsp', (_source, v) => {
    w.eventCsp.push(v);
  });
  await context.addInitScript(cspListenerInitScript);

  const page = await context.newPage();
  w.page = page;
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) w.consoleCsp.push(`[${msg.type()}] ${text}`);
  });
  page.on('pageerror', (err) => w.pageErrors.push(String(err)));
  page.on('requestfailed', (req) => {
    w.failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    const status = res.status();
    // Chromium asks for /favicon.ico on its own; the console does not link one.
    if (status < 400 || url.pathname === '/favicon.ico') return;
    const line = `${status} ${res.request().method()} ${res.url()}`;
    if (status >= 500) {
      w.serverErrors.push(line);
      return;
    }
    const key = `${status} ${url.pathname}`;
    const left = w.expected.get(key) || 0;
    if (left > 0) w.expected.set(key, left - 1);
    else w.badResponses.push(line);
  });

  // Violations that fired in the current document (the binding normally has them already).
  const eventsSeen = new Set();
  w.harvest = async () => {
    const inPage = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
    for (const v of inPage) {
      const key = JSON.stringify(v);
      if (!eventsSeen.has(key)) {
        eventsSeen.add(key);
        if (!w.eventCsp.some((e) => JSON.stringify(e) === key)) w.eventCsp.push(v);
      }
    }
  };

  w.expectStatus = (path, status) => {
    const key = `${status} ${path}`;
    w.expected.set(key, (w.expected.get(key) || 0) + 1);
  };

  /** Navigate, wait for load, harvest; returns the main-document response. */
  w.goto = async (path) => {
    const resp = await page.goto(`${baseUrl}${path}`, { waitUntil: 'load' });
    check(resp, `no response for GET ${path}`);
    await w.harvest();
    return resp;
  };

  /** GET an API path with this context's cookies; returns { status, json }. */
  w.api = async (path) => {
    const resp = await context.request.get(`${baseUrl}${path}`, { headers: { accept: 'application/json' } });
    const status = resp.status();
    if (status >= 500) w.serverErrors.push(`${status} GET ${baseUrl}${path} (API)`);
    let json = null;
    try {
      json = await resp.json();
    } catch {
      json = null;
    }
    return { status, json };
  };

  w.assertClean = async (where) => {
    await page.waitForTimeout(250); // let any late violation event arrive
    await w.harvest();
    check(
      w.consoleCsp.length === 0 && w.eventCsp.length === 0,
      `${where}: CSP violations: ${w.consoleCsp.length} console message(s), ` +
        `${w.eventCsp.length} securitypolicyviolation event(s)\n` +
        [...w.consoleCsp, ...w.eventCsp.map((v) => JSON.stringify(v))].map((s) => `  ${s}`).join('\n'),
    );
    check(w.serverErrors.length === 0, `${where}: server errors (5xx):\n  ${w.serverErrors.join('\n  ')}`);
    check(w.pageErrors.length === 0, `${where}: page errors:\n  ${w.pageErrors.join('\n  ')}`);
    check(w.badResponses.length === 0, `${where}: error responses:\n  ${w.badResponses.join('\n  ')}`);
    const realFailures = w.failedRequests.filter((f) => !f.includes('/favicon.ico'));
    check(realFailures.length === 0, `${where}: failed requests:\n  ${realFailures.join('\n  ')}`);
  };

  w.stylesheetApplied = async (where) => {
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
  };

  return w;
}

/**
 * Sign in through /login and /login/mfa as `user` of `tenant`; checks that the browser lands on /.
 * `onLoginPage` runs on the sign-in form before it is filled in; `onMfaPage` on the code form.
 * Returns { loginResp, pwResp, mfaResp, note }.
 */
export async function signIn(w, tenant, user, { onLoginPage, onMfaPage } = {}) {
  const { page } = w;
  check(user.totp_secret, `credentials: ${user.role} ${user.email} has no totp_secret`);
  const loginResp = await w.goto('/login');
  check(loginResp.status() === 200, `GET /login answered ${loginResp.status()}`);
  checkCspHeader(loginResp, 'GET /login');
  if (onLoginPage) await onLoginPage();
  await page.locator('input[name="tenant"]').fill(tenant.slug);
  await page.locator('input[name="email"]').fill(user.email);
  await page.locator('input[name="password"]').fill(user.password);
  const [pwResp] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('form[action="/login"] button[type="submit"]').click(),
  ]);
  checkCspHeader(pwResp, `POST /login (${user.role})`);

  // Two-step verification.
  const codeInput = page.locator('input[name="code"]');
  if ((await codeInput.count()) === 0) {
    const alert = await page.locator('[role="alert"]').allInnerTexts();
    throw new TestFailure(
      `${user.role}: after the password step there is no MFA form (status ${pwResp.status()}, ` +
        `url ${page.url()}, alert: ${JSON.stringify(alert)})`,
    );
  }
  if (onMfaPage) await onMfaPage();
  const mfaToken = await page.locator('input[name="mfa_token"]').getAttribute('value');
  check(mfaToken && mfaToken.length > 0, 'MFA page has no hidden mfa_token value');
  await w.harvest();
  async function submitCode() {
    await codeInput.fill(await freshTotp(user.totp_secret));
    const [resp] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.locator('form[action="/login/mfa"] button[type="submit"]').click(),
    ]);
    return resp;
  }
  let mfaResp = await submitCode();
  let note = '';
  // The server refuses a TOTP time step that was already used (replay protection). Against a
  // fresh demo, freshTotp avoids that; against a reused server, a run within the same 30 s as the
  // previous one can hit it. Then wait for the next step and try once more, and say so.
  if (new URL(page.url()).pathname === '/login/mfa' && (await codeInput.count()) > 0) {
    const alert = (await page.locator('[role="alert"]').allInnerTexts()).join(' ');
    if (/already used/i.test(alert)) {
      console.log(`NOTE: ${user.role} code refused (${alert.trim()}); waiting for the next TOTP step`);
      // That refusal is expected here; any other error response still counts.
      const i = w.badResponses.findIndex((r) => r.startsWith('401 ') && r.endsWith('/login/mfa'));
      if (i >= 0) w.badResponses.splice(i, 1);
      await w.harvest();
      mfaResp = await submitCode(); // freshTotp waits: this step is marked used
      note = ` (${user.role} TOTP retried once: time step already used)`;
    }
  }

  if (new URL(page.url()).pathname !== '/') {
    const alert = await page.locator('[role="alert"]').allInnerTexts();
    throw new TestFailure(
      `${user.role}: after the MFA step the browser is at ${page.url()} (status ${mfaResp?.status()}), ` +
        `not /; alert: ${JSON.stringify(alert)}`,
    );
  }
  checkCspHeader(mfaResp, `GET / after sign-in (${user.role})`);
  await w.harvest();
  return { loginResp, pwResp, mfaResp, note };
}

export function findUser(tenant, role) {
  const user = (tenant.users || []).find((u) => u.role === role);
  check(user, `credentials: tenant ${tenant.slug} has no ${role}`);
  check(user.totp_secret, `credentials: ${role} ${user.email} has no totp_secret`);
  return user;
}
