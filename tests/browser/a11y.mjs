// Accessibility and layout checks every console page gets in the browser tests:
//   - axe-core (WCAG 2 A and AA rules), run through the DevTools protocol (page.evaluate), so the
//     page's CSP is neither loosened nor tripped; a serious or critical violation fails the page;
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

/** Whether the page scrolls sideways at the current viewport. */
export async function scrollsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

/**
 * Checks the current page at phone, tablet and desktop widths: axe, no sideways scrolling on
 * the phone or the tablet, and screenshots NAME-phone.png, NAME-tablet.png and
 * NAME-desktop.png in outDir. `check` is the test's assert.
 */
export async function lookAt(page, name, { outDir, check }) {
  const where = `${name} (${new URL(page.url()).pathname})`;
  const problems = await axeViolations(page);
  check(problems.length === 0, `${where}: accessibility violations:\n  ${problems.join('\n  ')}`);
  const before = page.viewportSize();
  await page.setViewportSize(PHONE);
  check(!(await scrollsSideways(page)), `${where}: scrolls sideways at ${PHONE.width}px`);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(TABLET);
  check(!(await scrollsSideways(page)), `${where}: scrolls sideways at ${TABLET.width}px`);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-tablet.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  if (outDir) await page.screenshot({ path: join(outDir, `${name}-desktop.png`), fullPage: true });
  if (before) await page.setViewportSize(before);
}
