// Scenario: a parent signs in (password; a parent's second factor is optional) and finds their
// own children on the home page, opens one, and reads what the center holds; the staff's pages
// are refused (a deliberate 403), an unknown child is not found (404). Every page is looked at (axe, phone width,
// screenshots), with no CSP violation, page error or unexpected error response.

import { lookAt } from './a11y.mjs';

export async function parentHome(w, { tenant, outDir, check }) {
  const { page } = w;
  const parent = (tenant.users || []).find((u) => u.role === 'parent');
  check(parent, `credentials: tenant ${tenant.slug} has no parent`);
  const resp = await w.goto('/login');
  check(resp.status() === 200, `GET /login answered ${resp.status()}`);
  await page.locator('input[name="tenant"]').fill(tenant.slug);
  await page.locator('input[name="email"]').fill(parent.email);
  await page.locator('input[name="password"]').fill(parent.password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('form[action="/login"] button[type="submit"]').click(),
  ]);
  check(new URL(page.url()).pathname === '/', `after signing in the parent is at ${page.url()}`);
  await w.harvest();

  const links = page.locator('#your-children a[href^="/children/"]');
  const n = await links.count();
  check(n >= 1, "the parent's home page lists none of their children");
  check((await page.locator('#rooms-today, #backup-status, #clock-title').count()) === 0, "a parent's home shows staff panels");
  await lookAt(page, 'parent-home', { outDir, check });

  const name = (await links.first().innerText()).trim();
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), links.first().click()]);
  check(/^\/children\/[0-9a-f-]{36}$/.test(new URL(page.url()).pathname), `the child link led to ${page.url()}`);
  const heading = (await page.locator('h1').innerText()).trim();
  check(heading.includes(name.split(' ')[0]), `the child page is titled ${JSON.stringify(heading)}, not ${name}`);
  await lookAt(page, 'parent-child', { outDir, check });

  // The staff's pages are not the parent's.
  w.expectStatus('/attendance', 403);
  const refused = await w.goto('/attendance');
  check(refused.status() === 403, `a parent opening /attendance got ${refused.status()}`);
  const forbidden = await page.locator('main h1').allInnerTexts();
  check(forbidden.length === 1, `the 403 page has ${forbidden.length} h1`);
  await lookAt(page, 'forbidden', { outDir, check });
  // A child who is not theirs, or not there at all: the same 404, which says so plainly.
  const nobody = '/children/00000000-0000-7000-8000-000000000000';
  w.expectStatus(nobody, 404);
  const missing = await w.goto(nobody);
  check(missing.status() === 404, `a parent opening ${nobody} got ${missing.status()}`);
  const h1s = await page.locator('main h1').allInnerTexts();
  check(h1s.length === 1 && h1s[0].trim() === 'Child', `the 404 page's h1 reads ${JSON.stringify(h1s)}`);
  check((await page.locator('main a[href="/"]').count()) === 1, 'the 404 page has no way home');
  await lookAt(page, 'not-found', { outDir, check });
  await w.assertClean('parent home');
  return `${n} child(ren) on the home page; opened ${name}; /attendance refused (403) and an unknown child not found (404), both pages looked at`;
}
