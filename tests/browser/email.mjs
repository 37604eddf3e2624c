// Scenarios 4 and 5 (see console.test.mjs): family email through the demo's outbox with
// one-click unsubscribe, and a password reset by emailed link.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { lookAt } from './a11y.mjs';
import { check, checkCspHeader } from './helpers.mjs';
import { findUser, openScenario, signIn } from './session.mjs';

// ---------------------------------------------------------------- scenario 4: family email

/** The newest `.eml` files of the demo's outbox (file transport), as text. */
export async function outboxMessages(dataDir) {
  const dir = join(dataDir, 'outbox');
  let names = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.eml'));
  } catch {
    return [];
  }
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}

export async function familyEmail(w, { tenant, dataDir, outDir }) {
  const { page, context, baseUrl } = w;
  const admin = findUser(tenant, 'administrator');
  const { note } = await signIn(w, tenant, admin);

  // An announcement to the whole center, through the API with the browser's session.
  const subject = `Browser test ${Date.now()}`;
  const sent = await context.request.post(`${baseUrl}/api/v1/messages`, {
    data: { category: 'announcement', audience: { all: true }, subject, text: 'Dear {{guardian_name}}, bring a hat.' },
  });
  check(sent.status() === 202, `POST /api/v1/messages answered ${sent.status()}: ${await sent.text()}`);
  // The message's own page: who it went to and how each delivery stands.
  const sentId = (await sent.json()).id;
  check(sentId, 'POST /api/v1/messages answered no id');
  const msgResp = await w.goto(`/messages/${sentId}`);
  check(msgResp.status() === 200, `GET /messages/${sentId} answered ${msgResp.status()}`);
  await lookAt(page, 'message', { outDir, check });

  // The demo writes each message to DATA/outbox as a signed .eml file.
  let mine = [];
  for (let i = 0; i < 100 && mine.length === 0; i += 1) {
    mine = (await outboxMessages(dataDir)).filter((m) => m.includes(`Subject: ${subject}`));
    if (mine.length === 0) await page.waitForTimeout(100);
  }
  check(mine.length > 0, `no .eml with subject ${subject} appeared in ${dataDir}/outbox`);
  const eml = mine[0];
  check(/^DKIM-Signature: v=1; a=rsa-sha256;/m.test(eml), 'the message has no RSA DKIM signature');
  check(/a=ed25519-sha256/.test(eml), 'the message has no Ed25519 DKIM signature');
  check(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m.test(eml), 'no List-Unsubscribe-Post header');
  const link = eml.match(/^List-Unsubscribe: <([^>]+)>/m)?.[1];
  check(link && link.startsWith(`${baseUrl}/u/`), `List-Unsubscribe is ${link}, want ${baseUrl}/u/...`);
  const path = new URL(link).pathname;

  // The delivery log shows it to the administrator.
  const logResp = await w.goto('/admin/email?status=delivered');
  check(logResp.status() === 200, `GET /admin/email answered ${logResp.status()}`);
  checkCspHeader(logResp, 'GET /admin/email');
  const logRows = await page.locator('main table tbody tr').count();
  check(logRows >= mine.length, `the delivery log lists ${logRows} delivered row(s), want at least ${mine.length}`);
  if (outDir) await page.screenshot({ path: join(outDir, 'email-log.png'), fullPage: true });
  await w.assertClean('delivery log');

  // The recipient opens the link in another browser, with no session: the page changes nothing.
  const family = await openScenario(w.context.browser(), baseUrl);
  try {
    const first = await family.goto(path);
    check(first.status() === 200, `GET ${path} answered ${first.status()}`);
    checkCspHeader(first, `GET ${path}`);
    const h1 = (await family.page.locator('main h1').innerText()).trim();
    check(h1 === 'Unsubscribe from announcements?', `unsubscribe page h1 is ${JSON.stringify(h1)}`);
    await lookAt(family.page, 'unsubscribe', { outDir, check });
    const again = await family.goto(path);
    check(again.status() === 200, 'the page answers again');
    check(
      (await family.page.locator('main h1').innerText()).trim() === h1,
      'looking at the page twice changed something',
    );
    // One click.
    const [done] = await Promise.all([
      family.page.waitForNavigation({ waitUntil: 'load' }),
      family.page.locator('main form button[type="submit"]').click(),
    ]);
    check(done.status() === 200, `the unsubscribe POST answered ${done.status()}`);
    const doneH1 = (await family.page.locator('main h1').innerText()).trim();
    check(doneH1 === 'You are unsubscribed', `after the click the h1 is ${JSON.stringify(doneH1)}`);
    const prefs = await family.page.locator('main ul').innerText();
    check(/Announcements: unsubscribed/.test(prefs), `the preferences do not show the opt-out: ${prefs}`);
    check(/always sent/.test(prefs), 'the preferences do not say security email is always sent');
    await lookAt(family.page, 'unsubscribed', { outDir, check });
    await family.assertClean('unsubscribe page');
  } finally {
    await family.context.close().catch(() => {});
  }
  return (
    `announcement written to ${mine.length} .eml file(s) with both DKIM signatures; ` +
    `/admin/email lists ${logRows} delivered; one-click unsubscribe in a cookie-less browser; ` +
    `0 CSP violations` +
    note
  );
}

// ---------------------------------------------------------------- scenario 5: password reset

export async function passwordReset(w, { tenant, dataDir, outDir }) {
  const { page } = w;
  const user = findUser(tenant, 'front_desk');

  // From the sign-in page, "Forgot your password?".
  const login = await w.goto('/login');
  check(login.status() === 200, `GET /login answered ${login.status()}`);
  const [form] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('a[href="/reset"]').click(),
  ]);
  check(form.status() === 200, `GET /reset answered ${form.status()}`);
  checkCspHeader(form, 'GET /reset');
  await lookAt(page, 'reset-ask', { outDir, check });
  await page.locator('input[name="tenant"]').fill(tenant.slug);
  await page.locator('input[name="email"]').fill(user.email);
  const [asked] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('form[action="/reset"] button[type="submit"]').click(),
  ]);
  check(asked.status() === 200, `POST /reset answered ${asked.status()}`);
  const askedH1 = (await page.locator('main h1').innerText()).trim();
  check(askedH1 === 'Check your email', `after asking, the h1 is ${JSON.stringify(askedH1)}`);
  await lookAt(page, 'reset-asked', { outDir, check });

  // The link arrives in the demo's outbox (quoted-printable may wrap it: join soft breaks).
  let link = null;
  for (let i = 0; i < 100 && !link; i += 1) {
    const mine = (await outboxMessages(dataDir))
      .map((m) => m.replace(/=\r?\n/g, ''))
      .filter((m) => m.includes('Subject: Reset your Kinfold password') && m.includes(user.email));
    link = mine.map((m) => m.match(/(https?:\/\/[^\s"<>]+\/reset\/[A-Za-z0-9_-]+)/)?.[1]).find(Boolean) || null;
    if (!link) await page.waitForTimeout(100);
  }
  check(link, `no reset link for ${user.email} appeared in ${dataDir}/outbox`);
  const path = new URL(link).pathname;

  // The link's page names the account; a new password is set.
  const choose = await w.goto(path);
  check(choose.status() === 200, `GET ${path} answered ${choose.status()}`);
  checkCspHeader(choose, 'GET /reset/{token}');
  const who = await page.locator('main .card').innerText();
  check(who.includes(user.email), `the reset page does not name ${user.email}: ${who}`);
  await lookAt(page, 'reset-choose', { outDir, check });
  const fresh = `browser-reset-${Date.now()}-Kestrel`;
  await page.locator('input[name="password"]').fill(fresh);
  const [set] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('main form button[type="submit"]').click(),
  ]);
  check(set.status() === 200, `POST ${path} answered ${set.status()}`);
  const setH1 = (await page.locator('main h1').innerText()).trim();
  check(setH1 === 'Your password is changed', `after setting, the h1 is ${JSON.stringify(setH1)}`);
  await lookAt(page, 'reset-done', { outDir, check });

  // The link works once.
  w.expectStatus(path, 400);
  const used = await w.goto(path);
  check(used.status() === 400, `a used link answered ${used.status()}, want 400`);
  await lookAt(page, 'reset-used', { outDir, check });
  await w.assertClean('password reset');

  // The new password signs in, with the second factor as before.
  const { note } = await signIn(w, tenant, { ...user, password: fresh }, {
    onMfaPage: () => lookAt(page, 'login-mfa', { outDir, check }),
  });
  return `link emailed to the outbox, new password set, used link refused (400), signed in with it and TOTP${note}`;
}
