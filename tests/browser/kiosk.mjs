// Scenario part: the front desk runs a room's check-in kiosk on a tablet, with the keyboard
// alone (issue 14: "usable on a tablet", "the whole console is keyboard-usable"). From the
// home page's list of rooms it tabs to a room, tabs to an absent child's "Check in" and presses
// Enter, then checks the child out the same way. Every element the focus passes shows the
// console's focus ring (a 3px outline, not the browser's default). The allergy flag shows as an icon and no allergen is spelled out; the passphrase field
// shows only while an authorized pickup is chosen. The roster is looked at (axe; phone, tablet
// and desktop widths).

import { lookAt, TABLET } from './a11y.mjs';

/**
 * The allergens on the records of the children in the room at `roomPath`: what the kiosk must
 * not spell out. Read from the API by the center's administrator, in a window of their own,
 * so the list follows whatever the demo seeds.
 */
async function roomAllergens({ newWindow, signIn, findUser, tenant }, roomPath) {
  const w = await newWindow();
  try {
    await signIn(w, tenant, findUser(tenant, 'administrator'));
    const room = roomPath.split('/').pop();
    const get = async (path) => {
      const r = await w.page.request.get(`${w.baseUrl}${path}`);
      if (!r.ok()) throw new Error(`GET ${path} answered ${r.status()}`);
      return r.json();
    };
    const list = await get(`/api/v1/children?classroom_id=${room}`);
    const names = new Set();
    for (const c of list.items) {
      const child = await get(`/api/v1/children/${c.id}`);
      for (const a of child.allergies || []) names.add(a.name);
    }
    return [...names];
  } finally {
    await w.context.close();
  }
}

/**
 * Presses Tab until `target` has the focus, at most `max` times; every element focused on the
 * way must show a focus ring (an outline or a box shadow). Returns the number of presses.
 */
async function tabTo(page, target, { check, where, max = 400 }) {
  const handle = await target.elementHandle();
  for (let i = 1; i <= max; i += 1) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate((t) => {
      const a = document.activeElement;
      if (!a || a === document.body) return { here: false, ring: true, what: 'body' };
      const cs = getComputedStyle(a);
      // The console's own focus ring (app.css: a 3px solid outline), not the browser's default.
      const ring = cs.outlineStyle === 'solid' && parseFloat(cs.outlineWidth) >= 3;
      const what = `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''} "${(a.innerText || a.value || '').trim().slice(0, 40)}"`;
      return { here: a === t, ring, what };
    }, handle);
    check(at.ring, `${where}: ${at.what} takes the focus with no visible focus ring`);
    if (at.here) return i;
  }
  check(false, `${where}: ${max} presses of Tab never reached the target`);
  return max;
}

/** Presses Enter on the focused element and waits for the page it leads to. */
async function enter(page) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
}

export async function deskKiosk(w, ctx) {
  const { check, outDir } = ctx;
  const { page } = w;
  await page.setViewportSize(TABLET);
  await w.goto('/');
  const rooms = page.locator('#rooms-today a[href^="/rooms/"]');
  const n = await rooms.count();
  check(n >= 1, "the front desk's home lists no room");
  // The last room, away from the teacher's first room that a later scenario uses.
  const room = rooms.nth(n - 1);
  const roomName = (await room.innerText()).trim();
  let presses = await tabTo(page, room, { check, where: 'home' });
  await enter(page);
  check(/^\/rooms\/[0-9a-f-]{36}$/.test(new URL(page.url()).pathname), `Enter on ${roomName} led to ${page.url()}`);
  check((await page.locator('h1').innerText()).trim() === roomName, 'the kiosk is not titled with the room');

  const text = await page.locator('main').innerText();
  const flags = await page.locator('li.roster-line span.flag[role="img"]').count();
  check(flags >= 1, `${roomName}: the front desk sees no allergy flag on the kiosk`);
  const allergens = await roomAllergens(ctx, new URL(page.url()).pathname);
  check(allergens.length >= 1, `${roomName}: no child of the room has an allergy on record, so nothing is tested`);
  const spelled = allergens.filter((a) => text.includes(a));
  check(spelled.length === 0, `${roomName}: the kiosk spells out ${JSON.stringify(spelled)} (of ${JSON.stringify(allergens)})`);
  await lookAt(page, 'desk-roster', { outDir, check });

  // A child with an authorized pickup on file, so that the passphrase field is tried too.
  const absent = page.locator('li.roster-line[data-status="absent"]:has(option[data-passphrase])').last();
  check((await absent.count()) === 1, `${roomName}: no absent child with an authorized pickup on file`);
  const lineId = await absent.getAttribute('id');
  const line = page.locator(`li#${lineId}`);
  const called = (await line.locator('a.name').innerText()).trim().split(' ')[0];

  // In with the keyboard: from the top of the page, the first stop is the skip link, shown
  // when focused; Enter on it, and the next stops are the page's own.
  await page.evaluate(() => document.activeElement?.blur());
  const skip = page.locator('a.skip');
  presses += await tabTo(page, skip, { check, where: 'kiosk, skip link', max: 1 });
  check(await skip.isVisible(), 'the skip link is not shown when it has the focus');
  const box = await skip.boundingBox();
  check(box && box.x >= 0 && box.y >= 0, `the focused skip link is off screen: ${JSON.stringify(box)}`);
  await page.keyboard.press('Enter');
  presses += await tabTo(page, line.getByRole('button', { name: `Check in ${called}` }), { check, where: 'kiosk, check in' });
  await enter(page);
  const said = (await page.locator('#room-notice').innerText()).trim();
  check(said === `${called} checked in.`, `after Enter the kiosk says ${JSON.stringify(said)}`);
  check((await line.getAttribute('data-status')) === 'present', `${called} is not shown present`);

  // The passphrase field: hidden while a guardian is chosen, shown for an authorized pickup.
  const pass = line.locator('.passphrase input');
  check((await pass.count()) === 1, `${called}'s check-out has no passphrase field`);
  {
    const select = line.getByLabel('Picked up by');
    const pickup = await select.locator('option[data-passphrase]').first().getAttribute('value');
    const guardian = await select.locator('option[value^="guardian:"]').first().getAttribute('value');
    await select.selectOption(guardian);
    check(!(await pass.isVisible()), 'the passphrase field shows while a guardian is chosen');
    await select.selectOption(pickup);
    check(await pass.isVisible(), 'the passphrase field is hidden while an authorized pickup is chosen');
    await select.selectOption(guardian);
  }

  // Out with the keyboard, with the first person on file (chosen already).
  await page.evaluate(() => document.activeElement?.blur());
  presses += await tabTo(page, line.getByRole('button', { name: `Check out ${called}` }), { check, where: 'kiosk, check out' });
  await enter(page);
  check((await line.getAttribute('data-status')) === 'checked_out', `${called} is not shown checked out`);

  return `at ${roomName}'s kiosk on a tablet, checked ${called} in and out with the keyboard alone (${presses} Tab presses, past the navigation by the skip link, a focus ring on each); ${flags} allergy flag(s), none of the room's ${allergens.length} allergen(s) on record spelled out; the passphrase asked only while an authorized pickup is chosen`;
}
