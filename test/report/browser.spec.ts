/**
 * The report in a real browser: a short real run's report.html opened in Debian's chromium,
 * headless, through puppeteer-core (no browser download). Every expected chart must have
 * rendered (an SVG with drawn marks and its axis titles), the page must make no request other
 * than the file itself and log no console error; a screenshot is saved under
 * test-artifacts/report/. Skips, saying why, when no chromium is installed
 * (`apt-get install chromium`) or HYDRANET_CHROMIUM names none; with CI=true that fails instead.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { bestEpoch } from '../../ts/report/charts.js';
import { readRun } from '../../ts/report/run-folder.js';
import { SHORT_RUN_CHARTS, shortRun } from './run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** test-artifacts/report/ at the repository root (dist/test/report → ../../..). */
const ARTIFACTS = path.resolve(here, '../../../test-artifacts/report');

/** The chromium to drive: HYDRANET_CHROMIUM when set (and it exists), else the first of the usual paths that exists. */
function findChromium(): string | null {
  const given = process.env.HYDRANET_CHROMIUM;
  const candidates = given ? [given] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

/** What a page did while it loaded: every request but the page itself, console errors, page errors. */
interface PageLog {
  requests: string[];
  errors: string[];
}

/** Opens `file` in a new page with every request but the file itself aborted and recorded. */
async function open(browser: Browser, file: string): Promise<{ page: Page; log: PageLog }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });
  const url = pathToFileURL(file).href;
  const log: PageLog = { requests: [], errors: [] };
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    if (r.url() === url) void r.continue();
    else {
      log.requests.push(r.url());
      void r.abort();
    }
  });
  page.on('console', (m) => {
    if (m.type() === 'error') log.errors.push(m.text());
  });
  page.on('pageerror', (e) => log.errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  return { page, log };
}

/** Per chart figure: drawn marks (with a size on screen) and non-empty axis titles. */
interface FigureCheck {
  id: string;
  svgs: number;
  drawnMarks: number;
  axisTitles: string[];
}

describe('the report in a browser (chromium, headless)', function () {
  this.timeout(60_000);
  let browser: Browser | null = null;
  let run: Awaited<ReturnType<typeof shortRun>>;

  before(async function () {
    const chromium = findChromium();
    if (!chromium) {
      const why = process.env.HYDRANET_CHROMIUM
        ? `no browser at HYDRANET_CHROMIUM=${process.env.HYDRANET_CHROMIUM}`
        : 'no chromium here (apt-get install chromium, or set HYDRANET_CHROMIUM to a Chrome/Chromium binary)';
      // CI installs chromium (.ci/run): there a missing browser is a failure, not a skip.
      if (process.env.CI === 'true') throw new Error(`the browser test must run in CI, but there is ${why}`);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const { default: puppeteer } = await import('puppeteer-core');
    run = await shortRun();
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    browser = await puppeteer.launch({ executablePath: chromium!, headless: true, args: ['--headless=new', ...(root ? ['--no-sandbox'] : [])] });
  });

  after(async () => {
    await browser?.close();
    if (run) fs.rmSync(run.dir, { recursive: true, force: true });
  });

  it('draws every chart of a short real run, axis titles included, with no request and no console error', async () => {
    assert.deepEqual(run.report.charts.slice().sort(), SHORT_RUN_CHARTS.slice().sort(), 'the charts the run has data for');
    const read = readRun(run.dir);
    assert.equal(bestEpoch(read), read.confusion?.epoch, 'the marked best epoch is the one best.safetensors holds');
    const { page, log } = await open(browser!, run.report.file);
    const figures: FigureCheck[] = await page.$$eval('figure.chart', (els) =>
      els.map((el) => {
        const drawn = [...el.querySelectorAll('g.role-mark > *')].filter((m) => {
          const shape = m as SVGGraphicsElement;
          const box = shape.getBBox();
          const painted = (m.getAttribute('d') ?? '') !== '' || (m.textContent ?? '').trim() !== '' || m.tagName === 'rect' || m.tagName === 'line';
          return painted && (box.width > 0 || box.height > 0);
        });
        return {
          id: el.getAttribute('data-chart') ?? '',
          svgs: el.querySelectorAll('svg').length,
          drawnMarks: drawn.length,
          axisTitles: [...el.querySelectorAll('g.role-axis-title text')].map((t) => (t.textContent ?? '').trim()),
        };
      }),
    );
    assert.deepEqual(figures.map((f) => f.id).sort(), SHORT_RUN_CHARTS.slice().sort(), 'a figure per expected chart, none more');
    for (const f of figures) {
      assert.equal(f.svgs, 1, `${f.id}: one inline SVG`);
      assert.ok(f.drawnMarks > 0, `${f.id}: marks drawn on the page`);
      assert.ok(f.axisTitles.length >= 2 && f.axisTitles.every((t) => t !== ''), `${f.id}: x and y axis titles (${JSON.stringify(f.axisTitles)})`);
    }
    const titles = new Map(figures.map((f) => [f.id, f.axisTitles]));
    assert.ok(titles.get('loss')!.includes('epoch') && titles.get('loss')!.includes('loss'));
    assert.ok(titles.get('confusion-left')!.includes('true class') && titles.get('confusion-left')!.includes('predicted class'));
    assert.deepEqual(log.requests, [], 'no request but the file itself');
    assert.deepEqual(log.errors, [], 'no console error');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png') as `${string}.png`, fullPage: true });
    await page.close();
  });

  it('would catch a page that loads something: the tampered copy makes a request that the test records', async () => {
    // Without the Content-Security-Policy and with an external image, the same checks must fail.
    const html = fs.readFileSync(run.report.file, 'utf8').replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '').replace('<body>', '<body><img src="https://example.invalid/x.png">');
    const tampered = path.join(run.dir, 'tampered.html');
    fs.writeFileSync(tampered, html);
    const { page, log } = await open(browser!, tampered);
    assert.deepEqual(log.requests, ['https://example.invalid/x.png']);
    await page.close();
    // And with the policy kept, the browser itself refuses the load and says so on the console.
    const blocked = path.join(run.dir, 'blocked.html');
    fs.writeFileSync(blocked, fs.readFileSync(run.report.file, 'utf8').replace('<body>', '<body><img src="https://example.invalid/y.png">'));
    const second = await open(browser!, blocked);
    assert.deepEqual(second.log.requests, [], 'the policy stops the request before it leaves');
    assert.ok(second.log.errors.some((e) => /Content Security Policy/i.test(e)), `a CSP console error (${JSON.stringify(second.log.errors)})`);
    await second.page.close();
  });
});
