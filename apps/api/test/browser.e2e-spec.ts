/**
 * The operator pages in a real headless browser (Debian's `chromium`, driven by playwright-core):
 * /docs renders Swagger UI's operation list from /openapi.json, and /admin/queues renders bull-board's
 * list of the pipeline queues. Both pages load scripts and data after the HTML, so only a browser
 * shows that they work (a blocked script, a wrong asset path or a CSP refusal leaves an empty page
 * that still answers 200). Skipped, saying why, where no Chromium is installed (CHROMIUM_PATH
 * overrides /usr/bin/chromium).
 */
import { existsSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { QueueName } from '@rescue/contracts';
import { deletePrefix, uniquePrefix } from '@rescue/testing';
import { type RunningApi, startApi } from './api-harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`apps/api/test/browser.e2e-spec.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
const describeWithBrowser = haveChromium ? describe : describe.skip;

const ADMIN_KEY = 'k-browser-admin-0123456789';

/** Page errors, failed requests and console errors: any of them means the page did not fully work. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${res.status()} for ${res.url()}`);
  });
  return problems;
}

describeWithBrowser('the operator pages in headless Chromium', () => {
  let prefix: string;
  let api: RunningApi;
  let browser: Browser;
  beforeAll(async () => {
    prefix = uniquePrefix('api-browser');
    api = await startApi({ QUEUE_PREFIX: prefix, API_KEYS: `${ADMIN_KEY}@admin`, API_RATE_LIMIT_PER_MINUTE: '0' });
    await api.redisReady();
    // Chromium's sandbox needs user namespaces, which containers and root test runs often lack;
    // the pages are this test's own, from loopback.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await deletePrefix(prefix);
  });

  it('/docs: Swagger UI renders one entry per operation of /openapi.json, without a key', async () => {
    const spec = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);
    const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => methods.has(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.length).toBeGreaterThan(5);

    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${api.url}/docs`);
      await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
      const rendered = await page
        .locator('.opblock')
        .evaluateAll((blocks) =>
          blocks.map(
            (b) =>
              `${b.querySelector('.opblock-summary-method')?.textContent?.trim()} ${b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? b.querySelector('.opblock-summary-path')?.textContent?.trim()}`,
          ),
        );
      expect(rendered.sort()).toEqual([...operations].sort());
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('/admin/queues: bull-board renders every pipeline queue for an admin key sent as a header, and nothing without one', async () => {
    const anonymous = await browser.newContext();
    try {
      const page = await anonymous.newPage();
      const res = await page.goto(`${api.url}/admin/queues`);
      expect(res?.status()).toBe(401);
    } finally {
      await anonymous.close();
    }

    // A header-injecting client, as an operator's proxy would be (README "Run as services").
    const admin = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${ADMIN_KEY}` } });
    try {
      const page = await admin.newPage();
      const problems = watchProblems(page);
      const requested: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      await page.goto(`${api.url}/admin/queues`);
      for (const name of Object.values(QueueName)) await page.locator(`a[href$="/queue/${name}"]`).first().waitFor({ timeout: 30_000 });
      const linked = await page.locator('a[href*="/queue/"]').evaluateAll((links) => [...new Set(links.map((a) => decodeURIComponent((a.getAttribute('href') ?? '').split('/queue/')[1] ?? '')))]);
      expect(linked.sort()).toEqual(Object.values(QueueName).sort());
      // bull-board's page links a Google Fonts stylesheet, which the board's CSP refuses (no third
      // party learns of the visit); that refusal is the one message allowed, and nothing else fails.
      const refusedFont = (p: string) => /^request failed: https:\/\/fonts\.googleapis\.com\/.* \(csp\)$/.test(p) || /^console error: .*fonts\.googleapis\.com.*Content Security Policy/.test(p);
      expect(problems.filter((p) => !refusedFont(p))).toEqual([]);
      // Whatever left the API's origin was refused by the CSP before it went out.
      const outside = requested.filter((url) => !url.startsWith(api.url));
      expect(outside.filter((url) => !problems.includes(`request failed: ${url} (csp)`))).toEqual([]);
    } finally {
      await admin.close();
    }
  }, 60_000);
});
