// Accessibility and layout checks every console page gets in the browser tests:
//   - axe-core (WCAG 2 A and AA rules), run through the DevTools protocol (page.evaluate), so the
//     page's CSP is neither loosened nor tripped; a serious or critical violation fails the page;
//   - the keyboard walk: Tab reaches every control the page shows, each with a focus ring;
//   - no horizontal scrolling at a phone's width (360 CSS px) or a tablet's (768);
//   - a screenshot at phone, tablet and desktop widths, when OUT_DIR is set, for a person to
//     look at.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PHONE = { width: 360, height: 740 };
export const TABLET = { width: 768, height: 1024 };
export const DESKTOP = { width: 1100, height: 760 };

/** Violations of impact serious or critical on the current page, as lines of text. */
export async function axeViolations(page) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return result
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
}

/**
 * Whether the page scrolls sideways at the current viewport, or any box in it does (a table
 * that only scrolls inside its own box still hides a column): what scrolls, or null.
 */
export async function scrollsSideways(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) return 'the page';
    const box = [...document.querySelectorAll('main *')].find((e) => {
      const cs = getComputedStyle(e);
      return (cs.overflowX === 'auto' || cs.overflowX === 'scroll') && e.scrollWidth > e.clientWidth + 1;
    });
    return box ? `${box.tagName.toLowerCase()}.${box.className} in main` : null;
  });
}

/**
 * Checks the current page at phone, tablet and desktop widths: axe, the keyboard walk (at the
 * desktop width), no sideways scrolling on
 * the phone or the tablet, and screenshots NAME-phone.png, NAME-tablet.png and
 * NAME-desktop.png in outDir. `check` is the test's assert.
 */
export async function lookAt(page, name, { outDir, check }) {
  const where = `${name} (${new URL(page.url()).pathname})`;
  const problems = await axeViolations(page);
  check(problems.length === 0, `${where}: accessibility violations:\n  ${problems.join('\n  ')}`);
  const before = page.viewportSize();
  await page.setViewportSize(DESKTOP);
  await keyboardWalk(page, where, { check });
  await page.setViewportSize(PHONE);
  const phone = await scrollsSideways(page);
  check(!phone, `${where}: ${phone} scrolls sideways at ${PHONE.width}px`);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(TABLET);
  const tablet = await scrollsSideways(page);
  check(!tablet, `${where}: ${tablet} scrolls sideways at ${TABLET.width}px`);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-tablet.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-desktop.png`), fullPage: true });
  if (before) await page.setViewportSize(before);
}

/**
 * The keyboard walk every page gets (issue 14: "the whole console is keyboard-usable"): from
 * the top of the page, Tab until the focus leaves the page or comes round again. Every control
 * the page shows (links, buttons, fields, summaries) must take the focus on the way, and each
 * must show the console's focus ring (a 3px solid outline, not the browser's default) when it
 * does. Returns the number of controls reached.
 */
export async function keyboardWalk(page, where, { check, max = 600 }) {
  // Tab starts where the focus last was: a stand-in focused at the top of the body, and
  // removed, moves that start to the top of the page.
  await page.evaluate(() => {
    for (const e of document.querySelectorAll('[data-kw]')) e.removeAttribute('data-kw');
    const start = document.createElement('span');
    start.tabIndex = -1;
    document.body.prepend(start);
    start.focus();
    start.remove();
    window.scrollTo(0, 0);
  });
  let reached = 0;
  let same = 0;
  let left = false;
  const path = [];
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body || a === document.documentElement) return { done: true };
      // A date or time field takes several presses (its parts) while it keeps the focus;
      // anything else that keeps it is a trap.
      if (a.hasAttribute('data-kw-now')) {
        const parts = a.tagName === 'INPUT' && ['date', 'time', 'datetime-local', 'month', 'week'].includes(a.type);
        return { done: false, same: true, trap: !parts, what: `${a.tagName.toLowerCase()} "${(a.innerText || a.value || '').trim().split('\n')[0].slice(0, 40)}"` };
      }
      if (a.hasAttribute('data-kw')) return { done: true };
      for (const e of document.querySelectorAll('[data-kw-now]')) e.removeAttribute('data-kw-now');
      a.setAttribute('data-kw', '');
      a.setAttribute('data-kw-now', '');
      const cs = getComputedStyle(a);
      const ring = cs.outlineStyle === 'solid' && parseFloat(cs.outlineWidth) >= 3;
      const what = `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''} "${(a.innerText || a.value || a.getAttribute('aria-label') || '').trim().split('\n')[0].slice(0, 40)}"`;
      return { done: false, ring, what };
    });
    if (at.done) {
      left = true;
      break;
    }
    if (at.same) {
      same += 1;
      check(!at.trap && same <= 5, `${where}: the focus is trapped on ${at.what}`);
      continue;
    }
    same = 0;
    reached += 1;
    path.push(at.what);
    check(at.ring, `${where}: ${at.what} takes the focus with no visible focus ring`);
  }
  check(reached > 0, `${where}: Tab reaches nothing`);
  check(left, `${where}: ${max} presses of Tab never left the page (it went ${path.slice(-4).join(' -> ')})`);
  const missed = await page.evaluate(() => {
    const controls = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
    return [...document.querySelectorAll(controls)]
      // Shown: not in a closed <details> (whose content is skipped, not only hidden), not
      // display: none, not visibility: hidden.
      .filter((e) => !e.disabled && !e.hasAttribute('data-kw')
        && e.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true }))
      .map((e) => `${e.tagName.toLowerCase()} "${(e.innerText || e.value || e.getAttribute('aria-label') || '').trim().split('\n')[0].slice(0, 40)}"`)
      .slice(0, 8);
  });
  check(missed.length === 0, `${where}: the keyboard never reaches ${missed.join(', ')} (it went ${path.slice(-4).join(' -> ')}, then left the page)`);
  await page.evaluate(() => {
    for (const e of document.querySelectorAll('[data-kw], [data-kw-now]')) {
      e.removeAttribute('data-kw');
      e.removeAttribute('data-kw-now');
    }
    if (document.activeElement) document.activeElement.blur();
  });
  return reached;
}
