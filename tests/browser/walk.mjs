// The administrator's walk (issue 14), continuing scenario 6 in the same session: the child
// added there gets a guardian; a new teacher is invited from /admin/people, and their
// enrollment link is read from the demo's outbox; the administrator assigns them to the new
// room. In a second browser, the teacher enrolls TOTP on the link, lands signed in, signs out
// and in again (password, then a code), clocks in
// to the room, checks the child in at the roster, sees the room on the ratio board, and finds
// the check-in on today's CSV sign-in sheet in the center's time zone. The administrator then
// corrects the teacher's record (a forgotten clock-out, with a reason) from the ratio board.

import { lookAt } from './a11y.mjs';

const STRONG = 'quiet-harbor-lantern-82';

export async function adminWalk(w, ctx, { roomName, roomPath, childPath, childName, timeZone }) {
  const { page } = w;
  const { outDir, check, newWindow, outboxMessages, dataDir, freshTotp } = ctx;
  const given = childName.split(' ')[0];

  // The child's guardian, who will drop them off.
  await w.goto(childPath);
  await page.getByLabel('Name', { exact: true }).fill('Luis Castillo');
  await page.getByLabel('Relationship').fill('Father');
  await page.getByLabel('May pick up').check();
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Add guardian' }).click()]);
  check((await page.locator('#guardians').innerText()).includes('Luis Castillo'), 'the guardian was not added');
  await lookAt(page, 'child-guardians', { outDir, check });

  // Writing to families: a preview, as families will read it (nothing is sent).
  await page.locator('nav a[href="/messages/new"]').click();
  await page.waitForLoadState('load');
  await page.getByLabel('To', { exact: true }).selectOption({ label: roomName });
  await page.getByLabel('Subject').fill('Picnic on Friday at {{center_name}}');
  await page.getByLabel('Message', { exact: true }).fill('Dear {{guardian_name}},\n\nplease bring a hat.');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Preview' }).click()]);
  const preview = (await page.locator('#preview').innerText()).trim();
  check(preview.includes('Dear (each family') && preview.includes('Picnic on Friday at'), `the preview reads ${JSON.stringify(preview)}`);
  await lookAt(page, 'compose', { outDir, check });

  // Every other page an administrator uses, looked at the same way.
  for (const [path, name] of [['/attendance', 'attendance'], ['/children', 'children'], ['/admin/audit', 'audit'], ['/admin/email', 'email-log-page'], ['/account/sessions', 'my-sessions'], ['/attendance/export', 'sheet-form']]) {
    await w.goto(path);
    await lookAt(page, name, { outDir, check });
  }

  // The ratio table, as the center's settings link it.
  await w.goto('/admin/ratios');
  await lookAt(page, 'ratio-table', { outDir, check });

  // Invite a teacher.
  await w.goto('/admin');
  await page.locator('#admin-areas a[href="/admin/people"]').click();
  await page.waitForLoadState('load');
  await lookAt(page, 'people', { outDir, check });
  const domain = (await page.locator('#staff-list .muted').first().innerText()).split('@')[1];
  const email = `walk.${Date.now() % 100000}@${domain}`;
  await page.getByLabel('Name', { exact: true }).fill('Wes Walker');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Role', { exact: true }).selectOption('teacher');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Send the invitation' }).click()]);
  const said = (await page.locator('#people-notice').innerText()).trim();
  check(said.includes(`Invitation sent to Wes Walker (${email})`), `after inviting, the page says ${JSON.stringify(said)}`);

  // The link, as the new teacher gets it: from the demo's outbox.
  let token = null;
  for (let i = 0; i < 50 && !token; i += 1) {
    const mails = (await outboxMessages(dataDir)).map((m) => m.replace(/=\r?\n/g, ''));
    const mine = mails.find((m) => m.includes(email) && m.includes('/enroll/'));
    token = mine?.match(/\/enroll\/([A-Za-z0-9_-]+)/)?.[1] ?? null;
    if (!token) await page.waitForTimeout(200);
  }
  check(token, `no enrollment link for ${email} reached the outbox`);

  // The administrator puts the new teacher in the room.
  await w.goto(roomPath);
  await page.getByLabel('Assign a teacher').selectOption({ label: `Wes Walker (${email})` });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Assign', exact: true }).click()]);
  check((await page.locator('#room-teachers').innerText()).includes('Wes Walker'), 'the new teacher was not assigned');
  await w.assertClean('admin walk (administrator)');

  // The teacher, in their own browser: enroll, sign in, clock in.
  const t = await newWindow();
  try {
    await t.goto('/login');
    await lookAt(t.page, 'login', { outDir, check });
    await t.goto(`/enroll/${token}`);
    await lookAt(t.page, 'enroll', { outDir, check });
    const secret = (await t.page.locator('#totp-secret').innerText()).trim();
    await t.page.locator('#password').fill(STRONG);
    await t.page.locator('#code').fill(await freshTotp(secret));
    await Promise.all([t.page.waitForNavigation({ waitUntil: 'load' }), t.page.getByRole('button', { name: 'Turn on two-step verification' }).click()]);
    await t.goto('/');
    const h1 = (await t.page.locator('main h1').innerText()).trim();
    check(h1 === 'Welcome, Wes Walker', `after enrolling, the home page says ${JSON.stringify(h1)}`);
    // Signed out, the teacher signs in as on every working day: password, then a fresh code.
    await Promise.all([t.page.waitForNavigation({ waitUntil: 'load' }), t.page.getByRole('button', { name: 'Sign out' }).click()]);
    await ctx.signIn(t, ctx.tenant, { role: 'teacher', email, password: STRONG, totp_secret: secret });
    const again = (await t.page.locator('main h1').innerText()).trim();
    check(again === 'Welcome, Wes Walker', `after signing in again, the home page says ${JSON.stringify(again)}`);
    await t.page.getByLabel('Room', { exact: true }).selectOption({ label: roomName });
    await Promise.all([t.page.waitForNavigation({ waitUntil: 'load' }), t.page.getByRole('button', { name: 'Clock in' }).click()]);
    check((await t.page.locator('#clocked-in').innerText()).includes(roomName), 'the teacher is not clocked in');

    // The roster: check the child in, dropped off by their father.
    const roomId = roomPath.split('/').pop();
    await Promise.all([t.page.waitForNavigation({ waitUntil: 'load' }), t.page.locator(`#rooms-today a[href="/rooms/${roomId}"]`).click()]);
    const line = t.page.locator('li.roster-line').filter({ hasText: childName });
    await line.getByLabel('Dropped off by').selectOption({ label: 'Luis Castillo (Father)' });
    await Promise.all([t.page.waitForNavigation({ waitUntil: 'load' }), line.getByRole('button', { name: `Check in ${given}` }).click()]);
    check((await t.page.locator('#room-notice').innerText()).trim() === `${given} checked in.`, 'the check-in was not confirmed');

    // The ratio board shows the room with the child and the teacher.
    await t.goto('/ratios');
    const board = (await t.page.locator('#ratio-board li').filter({ hasText: roomName }).innerText()).replace(/\s+/g, ' ');
    check(/1 children · 1 staff clocked in/.test(board), `the board says ${JSON.stringify(board)}`);

    // Today's CSV sheet holds the check-in, in the center's time zone.
    const day = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    const csv = await t.context.request.get(`${t.baseUrl}/attendance/export?from=${day}&to=${day}&format=csv`);
    const rows = (await csv.text()).split('\n').filter((l) => l.includes(childName));
    check(rows.length === 1 && rows[0].includes(',check_in,') && rows[0].includes(`,${timeZone},`) && rows[0].includes('Luis Castillo'),
      `the CSV rows for ${childName}: ${JSON.stringify(rows)}`);
    const hhmm = rows[0].split(',')[1];
    const want = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date());
    const minutes = (s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
    check(Math.abs(minutes(hhmm) - minutes(want)) <= 2 || Math.abs(minutes(hhmm) - minutes(want)) >= 1438,
      `the CSV time ${hhmm} is not the time in ${timeZone} (${want})`);
    await t.assertClean('admin walk (teacher)');
  } finally {
    await t.context.close().catch(() => {});
  }

  // The administrator corrects the teacher's record from the ratio board: a clock-out they
  // forgot, with a reason; the room then has no staff clocked in.
  await w.goto('/ratios');
  await lookAt(page, 'ratios-admin', { outDir, check });
  const correct = page.locator('#correct-clock');
  await correct.getByLabel('Staff member').selectOption({ label: 'Wes Walker (teacher)' });
  await correct.getByLabel('Room').selectOption({ label: roomName });
  await correct.getByLabel('Record').selectOption('clock_out');
  await correct.getByLabel('Reason').fill('Left at 5 and forgot to clock out');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), correct.getByRole('button', { name: 'Record the correction' }).click()]);
  check((await page.locator('#board-notice').innerText()).includes('Correction recorded.'), 'the correction was not confirmed');
  const after = (await page.locator('#ratio-board li').filter({ hasText: roomName }).innerText()).replace(/\s+/g, ' ');
  check(/0 staff clocked in/.test(after), `after the correction the board says ${JSON.stringify(after)}`);
  await w.assertClean('admin walk (correction)');
  return `invited Wes Walker from the outbox link, who enrolled, signed in again with password and code, clocked in, checked ${childName} in at the roster, saw the ratio board and the CSV sheet (${timeZone}); the administrator corrected their clock-out from the board`;
}
