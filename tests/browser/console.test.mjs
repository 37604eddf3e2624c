#!/usr/bin/env node
// Real-browser end-to-end tests of the Kinfold web console (helpers.mjs: checks, TOTP and CSP;
// session.mjs: each scenario's browser context and signing in).
//
// Debian's Chromium runs headless, driven by playwright-core; every scenario gets a fresh browser
// context (its own cookies), signs in through /login with password and a TOTP code (computed
// here, RFC 6238), and is then checked for Content Security Policy violations (console messages
// and the `securitypolicyviolation` event are both watched), page errors, failed requests and
// error responses (never a 5xx; a 4xx only where the scenario expects one). Every page must
// carry a nonce-based CSP.
//
// Scenarios:
//   1. teacher session: a teacher of the first demo center signs in, lands on the home page,
//      survives a reload, and sees the current session on /account/sessions.
//   2. front desk check-in/out: the first center's front desk opens the first child of
//      /attendance, checks them in and out with a guardian; the roster follows
//      (present, then checked out); medical data is redacted for the role.
//   3. teacher scope: a teacher (of the second center when there is one, so that no account
//      signs in twice within one TOTP step) sees only children of their classrooms on /children,
//      sees allergies and medical notes of those, and gets 404 without child data for children
//      of another classroom (and of another center).
//   4. family email (email.mjs): the first center's administrator sends an announcement; its signed .eml
//      appears in the demo's outbox; /admin/email lists the deliveries; in a browser without a
//      session, the List-Unsubscribe link shows a page that changes nothing, and one click
//      unsubscribes (no CSRF token, no cookie).
//   5. password reset (email.mjs): the second center's front desk follows "Forgot your password?", the
//      link arrives in the outbox, the new password is set on the link's page, the used link
//      answers 400, and the new password (with TOTP) signs in.
//   6. admin classrooms (classrooms.mjs): the second center's administrator adds a classroom,
//      sees a bad field refused beside it, saves, and assigns a teacher; each page passes axe
//      (a11y.mjs) with no serious or critical violation, does not scroll sideways at 360 px, and
//      is photographed at phone and desktop widths. Then the administrator's walk (walk.mjs):
//      a guardian for the new child, a teacher invited from /admin/people whose link is read
//      from the demo outbox, assigned to the room; in a second browser the teacher enrolls,
//      clocks in, checks the child in at the roster, and finds it on the ratio board and on
//      today's CSV sign-in sheet in the center's time zone.
//   7. room roster (rooms.mjs): the first center's teacher opens their room's check-in kiosk
//      from their home page, checks a child in with one tap, sees an unlisted pickup refused
//      with what to do, and checks the child out; the roster is looked at like scenario 6's.
//   8. parent home (family.mjs): the first center's parent signs in with a password (a parent's
//      second factor is optional), finds their own children on the home page, opens one, and is
//      refused the staff's attendance page (403); home and child page looked at like 6's.
//
// Env:
//   BASE_URL     e.g. http://127.0.0.1:18099 (a running `kinfold demo`)
//   CREDENTIALS  path to that demo's demo-credentials.json
//   OUT_DIR      optional: where to write screenshots (console.png, sessions.png, checkin.png,
//                teacher-child.png; fail-<scenario>.png on failure)
//   CHROMIUM     optional: browser binary (default /usr/bin/chromium)
//
// Prints one PASS/FAIL line per scenario and a final "N passed, M failed" line.
// Exit code 0 when all scenarios pass; 1 otherwise.
// Usually run through scripts/browser-test.sh, which starts the demo server.

import { readFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { adminClassrooms } from './classrooms.mjs';
import { roomRoster } from './rooms.mjs';
import { parentHome } from './family.mjs';
import { lookAt } from './a11y.mjs';
import { deskKiosk } from './kiosk.mjs';
import { TestFailure, check, checkCspHeader, env, freshTotp, selfTestTotp } from './helpers.mjs';
import { findUser, openScenario, signIn } from './session.mjs';
import { familyEmail, outboxMessages, passwordReset } from './email.mjs';

const started = Date.now();
// ---------------------------------------------------------------- scenario 1: teacher session

async function teacherSession(w, { tenant, outDir }) {
  const { page, context, baseUrl } = w;
  const teacher = findUser(tenant, 'teacher');

  // 1 + 2. Sign-in form (with the stylesheet applied), then two-step verification.
  const { loginResp, note } = await signIn(w, tenant, teacher, {
    onLoginPage: () => w.stylesheetApplied('/login'),
  });
  const csp = checkCspHeader(loginResp, 'GET /login');

  // 3. Home: "Welcome, <name>" and the center in <strong>.
  const h1 = (await page.locator('main h1').innerText()).trim();
  check(h1 === `Welcome, ${teacher.name}`, `home h1 is ${JSON.stringify(h1)}, want "Welcome, ${teacher.name}"`);
  const center = (await page.locator('main strong').first().innerText()).trim();
  check(center === tenant.name, `home shows center ${JSON.stringify(center)}, want ${JSON.stringify(tenant.name)}`);
  const homeText = await page.locator('main').innerText();
  check(homeText.includes(teacher.email), `home page does not show ${teacher.email}`);
  check(/\bas teacher\b/.test(homeText), `home page does not say the role is teacher: ${JSON.stringify(homeText)}`);
  await w.stylesheetApplied('/');

  // The session cookie must be out of reach of page scripts.
  const cookies = await context.cookies(baseUrl);
  check(cookies.length > 0, 'no cookie was set by sign-in');
  for (const c of cookies) {
    check(c.httpOnly, `cookie ${c.name} is not HttpOnly`);
    check(c.sameSite === 'Lax' || c.sameSite === 'Strict', `cookie ${c.name} has SameSite=${c.sameSite}`);
  }
  const docCookie = await page.evaluate(() => document.cookie);
  check(docCookie === '', `document.cookie exposes ${JSON.stringify(docCookie)}`);
  await w.harvest();

  // 4. Reload: still signed in.
  const reloadResp = await page.reload({ waitUntil: 'load' });
  check(reloadResp.status() === 200, `reload of / answered ${reloadResp.status()}`);
  checkCspHeader(reloadResp, 'reload of /');
  check(new URL(page.url()).pathname === '/', `after reload the browser is at ${page.url()}, not /`);
  const h1Again = (await page.locator('main h1').innerText()).trim();
  check(h1Again === h1, `after reload the h1 is ${JSON.stringify(h1Again)}, was ${JSON.stringify(h1)}`);
  if (outDir) await page.screenshot({ path: join(outDir, 'console.png'), fullPage: true });
  await w.harvest();

  // 5. My sessions: a table with this session in it.
  const sessResp = await w.goto('/account/sessions');
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

  // 6. No CSP violations, by either channel; no error responses.
  await w.assertClean('teacher session');

  // 7. The watchers work: an inline <style> without the nonce must be refused and seen twice.
  await page.evaluate(() => {
    const s = document.createElement('style');
    s.textContent = 'body { outline: 1px solid red; }';
    document.head.appendChild(s);
  });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (w.consoleCsp.length === 0 || w.eventCsp.length === 0)) {
    await page.waitForTimeout(100);
    await w.harvest();
  }
  check(
    w.consoleCsp.length > 0 && w.eventCsp.length > 0,
    `the CSP watchers did not see a deliberate inline-style violation ` +
      `(console: ${w.consoleCsp.length}, events: ${w.eventCsp.length}); the zero above proves nothing`,
  );

  return (
    `${teacher.name} (teacher, ${tenant.slug}) signed in with TOTP, reload kept the session, ` +
    `${rowCount} session row(s), 0 CSP violations, ` +
    `CSP ${csp.includes("'strict-dynamic'") ? 'nonce+strict-dynamic' : 'nonce'}` +
    note
  );
}

// ---------------------------------------------------------------- scenario 2: front desk check-in/out

async function frontDeskCheckInOut(w, { tenant, outDir, newWindow }) {
  const { page } = w;
  const desk = findUser(tenant, 'front_desk');
  const { note } = await signIn(w, tenant, desk);
  await lookAt(page, 'desk-home', { outDir, check });

  async function rosterStatus(childId) {
    const resp = await w.goto('/attendance');
    check(resp.status() === 200, `GET /attendance answered ${resp.status()}`);
    checkCspHeader(resp, 'GET /attendance');
    const row = page.locator('table#roster tbody tr').filter({
      has: page.locator(`a[href="/children/${childId}"]`),
    });
    check((await row.count()) === 1, `/attendance: want one roster row for child ${childId}, found ${await row.count()}`);
    return (await row.locator('td.status').innerText()).trim();
  }

  // The roster, and its first child.
  const rosterResp = await w.goto('/attendance');
  check(rosterResp.status() === 200, `GET /attendance answered ${rosterResp.status()}`);
  checkCspHeader(rosterResp, 'GET /attendance');
  await w.stylesheetApplied('/attendance');
  const rosterRows = page.locator('table#roster tbody tr');
  const rosterCount = await rosterRows.count();
  check(rosterCount > 0, '/attendance: the roster (table#roster) has no rows');
  const statuses = (await rosterRows.locator('td.status').allInnerTexts()).map((t) => t.trim());
  check(statuses.length === rosterCount, `/attendance: ${rosterCount} rows but ${statuses.length} td.status cells`);
  const odd = statuses.filter((t) => !['absent', 'present', 'checked out'].includes(t));
  check(odd.length === 0, `/attendance: unknown status value(s) ${JSON.stringify([...new Set(odd)])}`);
  // On a fresh demo that is the first row; against a reused server, the first child not yet seen.
  const rowIndex = statuses.indexOf('absent');
  check(rowIndex >= 0, '/attendance: no child is absent, none left to check in');
  const firstLink = rosterRows.nth(rowIndex).locator('a[href^="/children/"]').first();
  check((await firstLink.count()) === 1, `/attendance: roster row ${rowIndex + 1} has no link to a child`);
  const href = await firstLink.getAttribute('href');
  const childId = href.replace(/^\/children\//, '');
  const childName = (await firstLink.innerText()).trim();
  const before = statuses[rowIndex];

  // The child page, reached by clicking the link.
  const [childResp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), firstLink.click()]);
  await w.harvest();
  check(childResp.status() === 200, `GET ${href} answered ${childResp.status()}`);
  checkCspHeader(childResp, `GET ${href}`);
  check(new URL(page.url()).pathname === href, `the roster link went to ${page.url()}, not ${href}`);
  const h1 = (await page.locator('h1#child-name').innerText()).trim();
  check(h1 === childName, `child page h1#child-name is ${JSON.stringify(h1)}, want ${JSON.stringify(childName)}`);

  // Medical data is not shown to the front desk, and the page says so.
  const redacted = page.locator('#redacted');
  check((await redacted.count()) === 1, `front desk child page has no #redacted paragraph`);
  const redactedText = (await redacted.innerText()).trim();
  check(/^Not shown to your role:/.test(redactedText), `#redacted reads ${JSON.stringify(redactedText)}`);
  check((await page.locator('#medical-notes').count()) === 0, 'front desk child page shows #medical-notes');
  check((await page.locator('#allergies').count()) === 0, 'front desk child page shows #allergies');

  // Check in with the first guardian.
  const form = page.locator('form#attendance-form');
  check((await form.count()) === 1, 'front desk child page has no form#attendance-form');
  const guardianValues = await form
    .locator('select[name="person"] option')
    .evaluateAll((opts) => opts.map((o) => o.value).filter((v) => v.startsWith('guardian:')));
  check(guardianValues.length > 0, 'select[name=person] has no guardian: option');
  const guardian = guardianValues[0];

  async function submitAttendance(action, label, want) {
    const f = page.locator('form#attendance-form');
    await f.locator('select[name="person"]').selectOption(guardian);
    const [resp] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      f.locator(`button[name="action"][value="${action}"]`).click(),
    ]);
    await w.harvest();
    check(resp, `${label}: no response`);
    check(resp.status() < 400, `${label} answered ${resp.status()} at ${page.url()}`);
    checkCspHeader(resp, label);
    const errors = await page.locator('p.error[role="alert"]').allInnerTexts();
    check(errors.length === 0, `${label}: error shown: ${JSON.stringify(errors)}`);
    const notice = page.locator('p[role="status"].notice');
    check((await notice.count()) === 1, `${label}: no p[role=status].notice (url ${page.url()})`);
    const text = (await notice.innerText()).trim();
    check(text === want, `${label}: notice reads ${JSON.stringify(text)}, want ${JSON.stringify(want)}`);
    const h = (await page.locator('h1#child-name').innerText()).trim();
    check(h === childName, `${label}: the page re-rendered for ${JSON.stringify(h)}, not ${JSON.stringify(childName)}`);
  }

  await submitAttendance('check_in', 'Check in', 'Checked in.');
  if (outDir) await page.screenshot({ path: join(outDir, 'checkin.png'), fullPage: true });
  const afterIn = await rosterStatus(childId);
  check(afterIn === 'present', `/attendance after check-in: ${childName} is ${JSON.stringify(afterIn)}, want "present"`);

  // Back to the child, check out with the same guardian.
  const backResp = await w.goto(href);
  check(backResp.status() === 200, `GET ${href} answered ${backResp.status()}`);
  await submitAttendance('check_out', 'Check out', 'Checked out.');
  const afterOut = await rosterStatus(childId);
  check(
    afterOut === 'checked out',
    `/attendance after check-out: ${childName} is ${JSON.stringify(afterOut)}, want "checked out"`,
  );

  const kiosk = await deskKiosk(w, { check, outDir, tenant, signIn, findUser, newWindow });
  await w.assertClean('front desk check-in/out');
  return (
    `${desk.name} (front desk, ${tenant.slug}) checked ${childName} in and out with ${guardian.split(':')[0]}; ` +
    `roster ${before} -> ${afterIn} -> ${afterOut}; medical data redacted; ${kiosk}; 0 CSP violations` +
    note
  );
}

// ---------------------------------------------------------------- scenario 3: teacher scope

async function teacherScope(w, { tenant, otherTenant, outDir }) {
  const { page } = w;
  const teacher = findUser(tenant, 'teacher');
  const classrooms = new Set(teacher.classroom_ids || []);
  check(classrooms.size > 0, `credentials: teacher ${teacher.email} has no classroom_ids`);
  const childIds = tenant.child_ids || [];
  check(childIds.length > 0, `credentials: tenant ${tenant.slug} has no child_ids`);
  const { note } = await signIn(w, tenant, teacher);

  // /children lists only children of the teacher's classrooms.
  const listResp = await w.goto('/children');
  check(listResp.status() === 200, `GET /children answered ${listResp.status()}`);
  checkCspHeader(listResp, 'GET /children');
  await w.stylesheetApplied('/children');
  const links = await page
    .locator('main table a[href^="/children/"]')
    .evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), name: a.textContent.trim() })));
  check(links.length > 0, `/children lists no child for teacher ${teacher.email}`);
  const listed = new Set();
  for (const { href, name } of links) {
    const id = href.replace(/^\/children\//, '');
    listed.add(id);
    const { status, json } = await w.api(`/api/v1/children/${id}`);
    check(status === 200, `GET /api/v1/children/${id} (${name}, listed on /children) answered ${status}`);
    check(
      classrooms.has(json?.classroom_id),
      `/children lists ${name} of classroom ${json?.classroom_id}, not one of the teacher's ` +
        `${JSON.stringify([...classrooms])}`,
    );
  }
  // The classroom filter offers the teacher's classrooms only.
  const filterValues = await page
    .locator('select[name="classroom_id"] option')
    .evaluateAll((opts) => opts.map((o) => o.value).filter((v) => v !== ''));
  for (const v of filterValues) {
    check(classrooms.has(v), `/children classroom filter offers classroom ${v}, not one of the teacher's`);
  }

  // One listed child: allergies and medical notes are shown.
  const first = links[0];
  const [openResp] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator(`main table a[href="${first.href}"]`).first().click(),
  ]);
  await w.harvest();
  check(openResp.status() === 200, `GET ${first.href} answered ${openResp.status()}`);
  checkCspHeader(openResp, `GET ${first.href}`);
  const h1 = (await page.locator('h1#child-name').innerText()).trim();
  check(h1 === first.name, `child page h1#child-name is ${JSON.stringify(h1)}, want ${JSON.stringify(first.name)}`);
  check((await page.locator('#allergies').count()) === 1, `teacher's child page ${first.href} has no #allergies`);
  check((await page.locator('#medical-notes').count()) === 1, `teacher's child page ${first.href} has no #medical-notes`);
  const redacted = page.locator('#redacted');
  if ((await redacted.count()) > 0) {
    const t = await redacted.innerText();
    check(!/allerg|medical/i.test(t), `teacher's child page says medical data is redacted: ${JSON.stringify(t)}`);
  }
  check(
    (await page.locator('form#attendance-form').count()) === 1,
    `teacher's child page (own classroom) has no form#attendance-form`,
  );
  if (outDir) await page.screenshot({ path: join(outDir, 'teacher-child.png'), fullPage: true });

  // Every known child ID: 200 with medical data for the teacher's classrooms, 404 and nothing
  // about the child otherwise.
  async function probe(id, where) {
    w.expectStatus(`/children/${id}`, 404); // allowed here, not required
    const resp = await w.goto(`/children/${id}`);
    w.expected.delete(`404 /children/${id}`); // used up (404) or not needed (200)
    const status = resp.status();
    check(status === 200 || status === 404, `${where}: GET /children/${id} answered ${status}`);
    checkCspHeader(resp, `GET /children/${id}`);
    if (status === 404) {
      const main = (await page.locator('main').innerText()).trim();
      check(/child not found/i.test(main), `${where}: 404 page for ${id} does not say "child not found": ${main}`);
      for (const sel of ['#child-name', '#allergies', '#medical-notes', '#attendance-form', 'dl']) {
        check((await page.locator(sel).count()) === 0, `${where}: 404 page for ${id} has ${sel}`);
      }
      const { status: apiStatus } = await w.api(`/api/v1/children/${id}`);
      check(apiStatus === 404, `${where}: page says 404 for ${id} but GET /api/v1/children/${id} answered ${apiStatus}`);
    } else {
      check((await page.locator('#allergies').count()) === 1, `${where}: child page ${id} has no #allergies`);
      check((await page.locator('#medical-notes').count()) === 1, `${where}: child page ${id} has no #medical-notes`);
      const { status: apiStatus, json } = await w.api(`/api/v1/children/${id}`);
      check(apiStatus === 200, `${where}: page shows ${id} but the API answered ${apiStatus}`);
      check(classrooms.has(json?.classroom_id), `${where}: teacher can open ${id} of classroom ${json?.classroom_id}`);
    }
    return status;
  }
  let ok = 0;
  let notFound = 0;
  for (const id of childIds) {
    const status = await probe(id, `${tenant.slug} child`);
    if (status === 200) {
      ok += 1;
      check(listed.has(id), `child ${id} opens for the teacher but is not listed on /children`);
    } else {
      notFound += 1;
      check(!listed.has(id), `child ${id} is listed on /children but its page answers 404`);
    }
  }
  check(ok >= 1, `none of the ${childIds.length} child_ids of ${tenant.slug} opened for the teacher`);
  check(notFound >= 1, `all ${childIds.length} child_ids of ${tenant.slug} opened for the teacher; want one from another classroom to 404`);

  // Children of another center: always 404.
  let crossTenant = 0;
  for (const id of otherTenant?.child_ids || []) {
    const status = await probe(id, `${otherTenant.slug} child (other center)`);
    check(status === 404, `teacher of ${tenant.slug} can open child ${id} of ${otherTenant.slug}`);
    crossTenant += 1;
  }

  await w.assertClean('teacher scope');
  return (
    `${teacher.name} (teacher, ${tenant.slug}) sees ${links.length} child(ren), all in own ` +
    `${classrooms.size} classroom(s); allergies and notes shown; of ${childIds.length} known children ` +
    `${ok} open, ${notFound} answer 404` +
    (crossTenant ? `; ${crossTenant} of another center answer 404` : '') +
    `; 0 CSP violations` +
    note
  );
}


// ---------------------------------------------------------------- the run

async function main() {
  selfTestTotp();

  const baseUrl = env('BASE_URL').replace(/\/+$/, '');
  const credentialsPath = env('CREDENTIALS');
  const outDir = process.env.OUT_DIR || '';
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (outDir) await mkdir(outDir, { recursive: true });

  let creds;
  try {
    creds = JSON.parse(await readFile(credentialsPath, 'utf8'));
  } catch (e) {
    throw new TestFailure(`cannot read credentials ${credentialsPath}: ${e.message}`);
  }
  const tenants = creds?.tenants || [];
  const first = tenants[0];
  check(first?.slug, 'credentials: no tenants[0].slug');
  // The teacher-scope scenario uses the second center's teacher when there is one: the first
  // center's teacher already signed in (scenario 1), and a second sign-in within the same TOTP
  // step would have to wait up to 30 s for the next one.
  const scopeTenant = tenants[1]?.slug ? tenants[1] : first;
  const scopeOther = scopeTenant === first ? tenants[1] : first;

  const scenarios = [
    ['teacher session', (w) => teacherSession(w, { tenant: first, outDir })],
    [
      'front desk check-in/out',
      (w) => frontDeskCheckInOut(w, { tenant: first, outDir, newWindow: () => openScenario(browser, baseUrl) }),
    ],
    ['teacher scope', (w) => teacherScope(w, { tenant: scopeTenant, otherTenant: scopeOther, outDir })],
    ['family email', (w) => familyEmail(w, { tenant: first, dataDir: dirname(credentialsPath), outDir })],
    ['password reset', (w) => passwordReset(w, { tenant: scopeTenant, dataDir: dirname(credentialsPath), outDir })],
    [
      'admin classrooms and walk',
      (w) =>
        adminClassrooms(w, {
          tenant: scopeTenant,
          outDir,
          signIn,
          findUser,
          check,
          freshTotp,
          outboxMessages,
          dataDir: dirname(credentialsPath),
          newWindow: () => openScenario(browser, baseUrl),
        }),
    ],
    ['room roster', (w) => roomRoster(w, { tenant: first, outDir, signIn, findUser, check })],
    ['parent home', (w) => parentHome(w, { tenant: first, outDir, check })],
  ];

  const browser = await chromium.launch({
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
    timeout: 60_000,
  });
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, run] of scenarios) {
      const t0 = Date.now();
      let w;
      try {
        w = await openScenario(browser, baseUrl);
        const summary = await run(w);
        passed += 1;
        console.log(`PASS ${name}: ${summary}; ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      } catch (e) {
        failed += 1;
        const msg = e instanceof TestFailure ? e.message : `unexpected error: ${e?.stack || e}`;
        console.error(`FAIL ${name}: ${msg}`);
        if (w?.page) console.error(`  (browser at ${w.page.url()})`);
        if (outDir && w?.page) {
          const file = join(outDir, `fail-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
          await w.page.screenshot({ path: file, fullPage: true }).catch(() => {});
        }
      } finally {
        if (w) await w.context.close().catch(() => {});
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${failed ? 'FAIL' : 'PASS'} browser console tests in ${secs}s` + (outDir ? `; screenshots in ${outDir}` : ''),
  );
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0;
}

try {
  const ok = await main();
  process.exit(ok ? 0 : 1);
} catch (e) {
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (e instanceof TestFailure) console.error(`FAIL: ${e.message}`);
  else console.error(`FAIL: unexpected error: ${e?.stack || e}`);
  console.error(`FAIL browser console test after ${secs}s`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
