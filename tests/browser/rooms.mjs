// Scenario: a teacher runs the check-in kiosk of their room (issue 14).
// Signs in, follows their home page's link to their first room's roster, checks an absent child
// in with one tap (the first person on file), sees "someone not on this list" refused with what
// to do next (a deliberate 403), then checks the child out with the person who brought them.
// The roster is looked at before and after (axe, phone width, screenshots).

import { lookAt } from './a11y.mjs';

export async function roomRoster(w, { tenant, outDir, signIn, findUser, check }) {
  const { page } = w;
  const teacher = findUser(tenant, 'teacher');
  const { note } = await signIn(w, tenant, teacher);
  await lookAt(page, 'teacher-home', { outDir, check });

  const link = page.locator('#rooms-today a[href^="/rooms/"]').first();
  check((await link.count()) === 1, "the teacher's home page links no room roster");
  const roomName = (await link.innerText()).trim();
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), link.click()]);
  const roomPath = new URL(page.url()).pathname;
  check(/^\/rooms\/[0-9a-f-]{36}$/.test(roomPath), `the room link led to ${roomPath}`);
  check((await page.locator('h1').innerText()).trim() === roomName, 'the roster is not titled with the room');
  await lookAt(page, 'roster', { outDir, check });

  const absent = page.locator('li.roster-line[data-status="absent"]').first();
  check((await absent.count()) === 1, 'no absent child left on the roster');
  const lineId = await absent.getAttribute('id');
  const line = page.locator(`li#${lineId}`);
  const name = (await line.locator('a.name').innerText()).trim();
  const called = name.split(' ')[0];

  // One tap: the first person on file is chosen already.
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    line.getByRole('button', { name: `Check in ${called}` }).click(),
  ]);
  const notice = (await page.locator('#room-notice').innerText()).trim();
  check(notice === `${called} checked in.`, `after the tap the roster says ${JSON.stringify(notice)}`);
  check((await line.getAttribute('data-status')) === 'present', `${name} is not shown present`);

  // Someone not on the list: refused, with what to do.
  w.expectStatus(`${roomPath}/attendance`, 403);
  await line.getByLabel('Picked up by').selectOption('unlisted');
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    line.getByRole('button', { name: `Check out ${called}` }).click(),
  ]);
  const alert = (await page.locator('#pickup-refused').innerText()).trim();
  check(alert.includes(`Do not release ${called}`) && /call a guardian on file/.test(alert), `the refusal says ${JSON.stringify(alert)}`);
  await lookAt(page, 'roster-refused', { outDir, check });

  // The person who brought the child takes them home.
  await page.goto(`${w.baseUrl}${roomPath}`, { waitUntil: 'load' });
  const first = await line.getByLabel('Picked up by').locator('option').first().getAttribute('value');
  check(first.startsWith('guardian:'), `the first person on file is ${first}`);
  await line.getByLabel('Picked up by').selectOption(first);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    line.getByRole('button', { name: `Check out ${called}` }).click(),
  ]);
  check((await line.getAttribute('data-status')) === 'checked_out', `${name} is not shown checked out`);

  // The demo's morning: the teacher is clocked in to this room, and the ratio board shows it.
  const clocked = (await page.locator('#clocked-in').innerText()).trim();
  check(clocked.includes(roomName), `the roster's clock says ${JSON.stringify(clocked)}`);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('nav a[href="/ratios"]').click()]);
  const board = page.locator('#ratio-board li').filter({ hasText: roomName });
  check((await board.count()) === 1, `the ratio board has no line for ${roomName}`);
  const line1 = (await board.locator('p.ratio').innerText()).trim();
  check(/1 staff clocked in/.test(line1), `the board says ${JSON.stringify(line1)}`);
  await lookAt(page, 'ratios', { outDir, check });

  // Today's sign-in sheet: the check-in and check-out, on the page and in the CSV, at the
  // times the roster showed (the center's time zone).
  await w.goto('/attendance/export');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Show the sheet' }).click()]);
  const sheetRows = page.locator('#sheet-rows tbody tr').filter({ hasText: name });
  check((await sheetRows.count()) >= 2, `the sheet has ${await sheetRows.count()} row(s) for ${name}`);
  await lookAt(page, 'sheet', { outDir, check });
  const day = new URL(page.url()).searchParams.get('from');
  const csv = await w.context.request.get(`${w.baseUrl}/attendance/export?from=${day}&to=${day}&format=csv`);
  check(csv.status() === 200 && (csv.headers()['content-type'] || '').startsWith('text/csv'), `the CSV answered ${csv.status()}`);
  const text = await csv.text();
  const mine = text.split('\n').filter((l) => l.includes(name));
  check(mine.some((l) => l.includes(',check_in,')) && mine.some((l) => l.includes(',check_out,')), `the CSV rows for ${name}: ${JSON.stringify(mine)}`);
  const tz = mine[0].split(',')[2];
  check(tz === 'America/Los_Angeles', `the CSV's time zone is ${tz}`);
  await w.assertClean('room roster');
  return `${teacher.name} (teacher, ${tenant.slug}) checked ${name} in and out at ${roomName}'s roster; an unlisted pickup was refused with instructions; the ratio board and today's sign-in sheet (page and CSV, America/Los_Angeles) show it` + note;
}
