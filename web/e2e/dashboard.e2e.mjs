// The dashboard end to end in headless Chromium (playwright-core, no test framework).
//
// Run by tests/browser_test.go (TestDashboardInBrowser), which starts a real server, a
// loopback DNS server and web server, and passes:
//   BASE_URL        the server, e.g. http://127.0.0.1:41234
//   TOKEN           a user's API token
//   DNS_ADDR        host:port of the DNS server (the campaign's resolver)
//   WEB_PORT        the web server's port (the campaign's HTTP port)
//   SCREENSHOT_DIR  where the screenshots go
//   E2E_PLAN        JSON: the campaign to create and the counts it must end with
//   CHROMIUM_PATH   optional, default /usr/bin/chromium
// Exit status 0 when every check passed, 1 otherwise (with what failed and a screenshot).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const T0 = Date.now();
const OVERALL_MS = 110_000; // the Go test kills us at 150 s; report before that
const COMPLETE_MS = 60_000; // from Start to 100% in the list
const STEP_MS = 15_000; // any other wait

function log(msg) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}

class CheckFailed extends Error {}
function fail(msg) {
  throw new CheckFailed(msg);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
function eq(got, want, what) {
  if (got !== want) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dashboard.e2e: environment variable ${name} is not set (see the header of this file)`);
    process.exit(1);
  }
  return v;
}

const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const TOKEN = env('TOKEN');
const DNS_ADDR = env('DNS_ADDR');
const WEB_PORT = env('WEB_PORT');
const SCREENSHOT_DIR = env('SCREENSHOT_DIR');
const PLAN = JSON.parse(env('E2E_PLAN'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const X = PLAN.expect;

const tid = (id) => `[data-testid="${id}"]`;

/** Polls fn until it returns a truthy value; fails with describe()'s last state otherwise. */
async function waitUntil(what, fn, { timeout = STEP_MS, interval = 100, describe } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      if (err instanceof CheckFailed) throw err;
      last = `error: ${err.message.split('\n')[0]}`;
    }
    if (Date.now() > deadline) {
      const state = describe ? await describe().catch((e) => `(cannot describe: ${e.message})`) : last;
      fail(`timed out after ${timeout / 1000} s waiting for ${what}; last state: ${typeof state === 'string' ? state : JSON.stringify(state)}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

const text = async (loc) => ((await loc.textContent({ timeout: STEP_MS })) ?? '').trim();
const num = (s) => Number(String(s).replace(/[^\d-]/g, ''));

let browserContext;
let page;
const userDataDir = mkdtempSync(join(tmpdir(), 'domainflow-e2e-chromium-'));
const pageErrors = [];
const consoleErrors = [];
const failedResponses = []; // "401 GET /api/v1/campaigns"
const wsFrames = []; // parsed event frames the dashboard received

const watchdog = setTimeout(async () => {
  console.error(`FAIL: the whole run took longer than ${OVERALL_MS / 1000} s`);
  await screenshot('timeout').catch(() => {});
  process.exit(1);
}, OVERALL_MS);

async function screenshot(name) {
  if (!page) return null;
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 10_000 });
  return path;
}

// ---------------------------------------------------------------------------------------------

async function signIn() {
  log(`open ${BASE_URL}/`);
  const resp = await page.goto(`${BASE_URL}/`, { waitUntil: 'domcontentloaded', timeout: STEP_MS });
  eq(resp?.status(), 200, 'GET / status');
  await page.locator(tid('signin-form')).waitFor({ timeout: STEP_MS });

  log('sign in with a wrong token');
  await page.locator(tid('token-input')).fill('df_this_token_does_not_exist_0000000000');
  await page.locator(tid('signin-submit')).click();
  const err = page.locator(tid('signin-error'));
  await err.waitFor({ state: 'visible', timeout: STEP_MS });
  const errText = await text(err);
  check(/sign-in failed/i.test(errText), `the sign-in error says ${JSON.stringify(errText)}, want "Sign-in failed: …"`);
  eq(await page.locator(tid('token-input')).getAttribute('aria-invalid'), 'true', 'token input aria-invalid after a refused token');
  check(await page.locator(tid('signin-form')).isVisible(), 'the sign-in form is gone after a refused token');
  log(`  sign-in error shown: "${errText}"`);

  log('sign in with the real token');
  await page.locator(tid('token-input')).fill(TOKEN);
  await page.locator(tid('signin-submit')).click();
  await page.locator('#campaigns-title').waitFor({ timeout: STEP_MS });
  await waitUntil('the campaign list (empty)', () => page.locator(tid('campaigns-empty')).isVisible());
  check(!(await page.locator(tid('signin-form')).isVisible()), 'the sign-in form is still shown after signing in');
  eq(await page.evaluate(() => localStorage.getItem('domainflow.token')), TOKEN, 'token kept in localStorage');
  await waitUntil('the realtime indicator to say Live', async () => (await page.locator(tid('realtime-status')).getAttribute('data-state')) === 'open', {
    describe: async () => `realtime-status: ${await page.locator(tid('realtime-status')).textContent()}`,
  });
  log('  campaign list shown (no campaigns yet), realtime: Live');
}

async function fill(field, value) {
  const loc = page.locator(tid(field));
  if ((await loc.evaluate((el) => el.tagName)) === 'SELECT') await loc.selectOption(value);
  else await loc.fill(String(value));
}

async function createCampaign() {
  log('open the new-campaign form');
  await page.locator(tid('new-campaign-link')).click();
  await page.locator(tid('new-campaign-form')).waitFor({ timeout: STEP_MS });
  await waitUntil('URL #/new', () => page.url().endsWith('#/new'));

  const values = {
    'field-name': PLAN.name,
    'field-description': 'made by web/e2e/dashboard.e2e.mjs',
    'field-pattern-type': 'prefix',
    'field-constant': PLAN.constant,
    'field-charset': PLAN.charset,
    'field-variable-length': PLAN.length,
    'field-tlds': PLAN.badTlds,
    'field-max-domains': PLAN.maxDomains,
    'field-resolvers': DNS_ADDR,
    'field-keywords': PLAN.keywords.join(', '),
    'field-ports': WEB_PORT,
  };
  for (const [field, value] of Object.entries(values)) await fill(field, value);
  check(!(await page.locator(tid('field-auto-start')).isChecked()), 'auto start is checked by default');

  log(`submit with an invalid TLD list ${JSON.stringify(PLAN.badTlds)}`);
  await page.locator(tid('new-campaign-submit')).click();
  // The error must sit in the TLD field's own block, next to its input.
  const tldError = page.locator(`.field:has(${tid('field-tlds')}) > ${tid('error-field-tlds')}`);
  await tldError.waitFor({ state: 'visible', timeout: STEP_MS }).catch(async () => {
    const anyErr = await page.locator('[data-testid^="error-field-"], [data-testid="form-error"]').allTextContents();
    fail(`no field error next to the TLDs field after submitting ${JSON.stringify(PLAN.badTlds)}; errors shown: ${JSON.stringify(anyErr)}`);
  });
  const tldErrText = await text(tldError);
  check(/dot/i.test(tldErrText), `the TLD error says ${JSON.stringify(tldErrText)}, want it to mention the missing dot`);
  eq(await page.locator(tid('field-tlds')).getAttribute('aria-invalid'), 'true', 'TLDs input aria-invalid');
  const describedBy = (await page.locator(tid('field-tlds')).getAttribute('aria-describedby')) ?? '';
  const errId = await tldError.getAttribute('id');
  check(describedBy.split(' ').includes(errId), `the TLDs input's aria-describedby ${JSON.stringify(describedBy)} does not name its error #${errId}`);
  const otherErrors = await page.locator(`[data-testid^="error-field-"]:not(${tid('error-field-tlds')})`).allTextContents();
  eq(otherErrors.length, 0, `field errors on fields other than TLDs (${JSON.stringify(otherErrors)})`);
  const formErr = await text(page.locator(tid('form-error')));
  check(/correct the highlighted fields/i.test(formErr), `form error ${JSON.stringify(formErr)}`);
  check(page.url().endsWith('#/new'), `the page left the form after a refused submit: ${page.url()}`);
  log(`  field error next to TLDs: "${tldErrText}"; form error: "${formErr}"`);

  log(`fix the TLDs to ${JSON.stringify(PLAN.tlds.join(' '))} and submit (auto start off)`);
  await fill('field-tlds', PLAN.tlds.join(' '));
  await page.locator(tid('new-campaign-submit')).click();
  const id = await waitUntil('the new campaign page (#/campaigns/<id>)', () => /#\/campaigns\/([0-9a-f-]{36})$/.exec(page.url())?.[1], {
    describe: async () => ({ url: page.url(), errors: await page.locator('[data-testid^="error-field-"], [data-testid="form-error"]').allTextContents() }),
  });
  await waitUntil('the campaign name heading', async () => (await page.locator(tid('campaign-name')).textContent()) === PLAN.name);
  eq(await page.locator(`.campaign-head ${tid('campaign-status')}`).getAttribute('data-status'), 'draft', 'status of the new campaign');
  log(`  created campaign ${id} (draft)`);
  return id;
}

async function startAndWatch(id) {
  log('back to the campaign list');
  await page.locator(tid('nav-campaigns')).click();
  const row = page.locator(`${tid('campaign-row')}[data-campaign-id="${id}"]`);
  await row.waitFor({ timeout: STEP_MS });
  eq(await row.locator(tid('campaign-status')).getAttribute('data-status'), 'draft', 'status in the list before Start');
  eq(await text(row.locator(tid('campaign-progress-percent'))), '0%', 'progress in the list before Start');
  check(await row.locator(tid('action-start')).isEnabled(), 'Start is disabled for a draft');
  check(await row.locator(tid('action-resume')).isDisabled(), 'Resume is enabled for a draft');

  const framesBefore = wsFrames.length;
  log('press Start in the list; watch the progress (WebSocket)');
  await row.locator(tid('action-start')).click();
  const seen = [];
  const started = Date.now();
  let lastStatus = '';
  await waitUntil(
    'progress 100% and status completed in the list',
    async () => {
      const pct = await text(row.locator(tid('campaign-progress-percent')));
      const status = await row.locator(tid('campaign-status')).getAttribute('data-status');
      if (seen[seen.length - 1] !== pct) seen.push(pct);
      if (status !== lastStatus) {
        log(`  status ${status} at ${pct}`);
        lastStatus = status;
      }
      if (status === 'failed' || status === 'cancelled') fail(`the campaign ended ${status}; the list shows ${pct}`);
      const actionErr = await page.locator(tid('action-error')).allTextContents();
      if (actionErr.length) fail(`Start failed: ${actionErr.join('; ')}`);
      return pct === '100%' && status === 'completed';
    },
    { timeout: COMPLETE_MS, interval: 50, describe: async () => `progress ${seen.join(' → ')}, status ${lastStatus}` },
  );
  log(`  completed in ${((Date.now() - started) / 1000).toFixed(1)} s; progress seen: ${seen.join(' → ')}`);
  const pcts = seen.map(num);
  for (let i = 1; i < pcts.length; i++) check(pcts[i] >= pcts[i - 1], `the progress went backwards: ${seen.join(' → ')}`);

  const mine = wsFrames.slice(framesBefore).filter((f) => f.campaign_id === id);
  const byType = mine.reduce((m, f) => ((m[f.type] = (m[f.type] ?? 0) + 1), m), {});
  log(`  WebSocket events for the campaign: ${JSON.stringify(byType)}`);
  check((byType.campaign_progress ?? 0) > 0, 'the dashboard received no campaign_progress event over the WebSocket');
  check((byType.campaign_completed ?? 0) > 0, 'the dashboard received no campaign_completed event over the WebSocket');
  eq(await text(row.locator(tid('campaign-domains'))), `${X.total} / ${X.total}`, 'Domains column in the list');
  eq(num(await text(row.locator(tid('campaign-leads')))), X.leads, 'Leads column in the list');
  for (const a of ['start', 'pause', 'resume', 'cancel']) {
    check(await row.locator(tid(`action-${a}`)).isDisabled(), `${a} is enabled for a completed campaign`);
  }
}

/** Waits until the domain table shows `shown` of `total` rows (count text and rows agree). */
async function tableShows(shown, total, what) {
  const want = `${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} shown`;
  await waitUntil(`the domain table to show "${want}" (${what})`, async () => {
    const count = await text(page.locator(tid('domain-count')));
    const rows = await page.locator(tid('domain-row')).count();
    const loading = await page.locator(tid('domains-loading')).isVisible();
    return count === want && rows === shown && !loading;
  }, {
    describe: async () => ({
      count: await text(page.locator(tid('domain-count'))),
      rows: await page.locator(tid('domain-row')).count(),
      banner: await page.locator(tid('error-banner')).allTextContents(),
    }),
  });
}

async function rows() {
  return page.locator(tid('domain-row')).evaluateAll((trs) =>
    trs.map((tr) => ({
      name: tr.getAttribute('data-domain'),
      status: tr.getAttribute('data-status'),
      offset: Number(tr.querySelector('td')?.textContent),
      dns: tr.querySelector('[data-testid="domain-dns"] .pill')?.textContent ?? '',
      keywords: tr.querySelector('[data-testid="domain-keywords"]')?.textContent ?? '',
    })),
  );
}

async function loadMore(expectShown, total) {
  const btn = page.locator(tid('load-more'));
  check(await btn.isVisible(), `no Load More button with ${await text(page.locator(tid('domain-count')))}`);
  await btn.click();
  await tableShows(expectShown, total, 'after Load More');
}

async function setFilters(status, phase) {
  await page.locator(tid('filter-status')).selectOption(status);
  await page.locator(tid('filter-phase')).selectOption(phase);
}

async function campaignPage(id) {
  log('open the campaign page');
  await page.locator(`${tid('campaign-row')}[data-campaign-id="${id}"] ${tid('campaign-link')}`).click();
  await waitUntil('URL #/campaigns/<id>', () => page.url().endsWith(`#/campaigns/${id}`));
  await page.locator(tid('status-summary')).waitFor({ timeout: STEP_MS });
  eq(await page.locator(`.campaign-head ${tid('campaign-status')}`).getAttribute('data-status'), 'completed', 'campaign page status');

  // The summary: every count follows from what the DNS and web servers answer.
  const want = {
    'summary-total': X.total,
    'summary-generated': X.total,
    'summary-validated': X.validated,
    'summary-failed': X.failed,
    'summary-leads': X.leads,
    'summary-dns-validated': X.dnsValidated,
    'summary-dns-failed': X.dnsFailed,
    'summary-dns-pending': 0,
    'summary-http-validated': X.httpValidated,
    'summary-http-failed': 0,
    'summary-http-skipped': X.httpSkipped,
    'summary-http-pending': 0,
    'summary-analysis-validated': X.leads,
    'summary-analysis-failed': X.noMatch,
    'summary-analysis-pending': 0,
  };
  await waitUntil('the summary to show the totals', async () => num(await text(page.locator(tid('summary-total')))) === X.total);
  const got = {};
  for (const k of Object.keys(want)) got[k] = num(await text(page.locator(tid(k))));
  const wrong = Object.keys(want).filter((k) => got[k] !== want[k]);
  check(wrong.length === 0, `summary counts differ: ${wrong.map((k) => `${k} ${got[k]} (want ${want[k]})`).join(', ')}`);
  eq(await text(page.locator(tid('summary-progress'))), '100%', 'summary progress');
  eq(await text(page.locator(tid('summary-processed'))), `${(4 * X.total).toLocaleString('en-US')} / ${(4 * X.total).toLocaleString('en-US')}`, 'work done');
  log(`  summary: ${Object.entries(got).map(([k, v]) => `${k.replace('summary-', '')}=${v}`).join(' ')}`);

  // All domains, a page at a time.
  const pageSize = PLAN.pageSize;
  await tableShows(Math.min(pageSize, X.total), X.total, 'first page');
  log(`  domain table: ${await text(page.locator(tid('domain-count')))}`);
  let shown = Math.min(pageSize, X.total);
  let clicks = 0;
  while (shown < X.total) {
    shown = Math.min(shown + pageSize, X.total);
    await loadMore(shown, X.total);
    clicks++;
    log(`  Load More → ${await text(page.locator(tid('domain-count')))}`);
  }
  check(clicks >= 2, `Load More was needed only ${clicks} times; the plan wants at least 2`);
  check(!(await page.locator(tid('load-more')).isVisible()), 'Load More still shown with every row listed');
  const all = await rows();
  const names = new Set(all.map((r) => r.name));
  eq(names.size, X.total, 'distinct domain names in the table');
  all.forEach((r, i) => eq(r.offset, i, `offset in row ${i} (${r.name})`));
  check(names.has(PLAN.sampleLead) && names.has(PLAN.sampleNxdom), `the table lacks ${PLAN.sampleLead} or ${PLAN.sampleNxdom}`);
  const lead = all.find((r) => r.name === PLAN.sampleLead);
  eq(lead.status, 'validated', `${PLAN.sampleLead} status`);
  eq(lead.keywords, PLAN.keywords.join(', '), `${PLAN.sampleLead} keywords`);
  const nx = all.find((r) => r.name === PLAN.sampleNxdom);
  eq(nx.status, 'failed', `${PLAN.sampleNxdom} status`);
  eq(nx.dns, 'error', `${PLAN.sampleNxdom} DNS status`);

  // Filters: failed in DNS, then failed overall (two pages), then leads.
  log('filter: status Failed, phase DNS');
  await setFilters('failed', 'dns');
  const dnsFailed = num(await text(page.locator(tid('summary-dns-failed'))));
  await tableShows(Math.min(dnsFailed, pageSize), dnsFailed, 'DNS failed');
  let rs = await rows();
  check(rs.every((r) => r.status === 'failed' && r.dns !== 'ok'), `a row that did not fail DNS: ${JSON.stringify(rs.find((r) => r.status !== 'failed' || r.dns === 'ok'))}`);
  log(`  ${await text(page.locator(tid('domain-count')))} = summary DNS failed ${dnsFailed}`);

  log('filter: status Failed, any phase');
  await setFilters('failed', '');
  const failed = num(await text(page.locator(tid('summary-failed'))));
  await tableShows(Math.min(failed, pageSize), failed, 'failed overall');
  for (let n = Math.min(failed, pageSize); n < failed; ) {
    n = Math.min(n + pageSize, failed);
    await loadMore(n, failed);
  }
  rs = await rows();
  check(rs.every((r) => r.status === 'failed'), 'a row that is not failed under the Failed filter');
  log(`  ${await text(page.locator(tid('domain-count')))} = summary failed ${failed}`);

  log('filter: status Validated, phase Analysis');
  await setFilters('validated', 'analysis');
  const leads = num(await text(page.locator(tid('summary-leads'))));
  await tableShows(Math.min(leads, pageSize), leads, 'leads');
  rs = await rows();
  check(rs.every((r) => r.status === 'validated' && r.keywords === PLAN.keywords.join(', ')), 'a lead row without the keywords');
  log(`  ${await text(page.locator(tid('domain-count')))} = summary leads ${leads}`);

  log(`search ${JSON.stringify(PLAN.search)} (filters cleared)`);
  await setFilters('', '');
  await tableShows(Math.min(pageSize, X.total), X.total, 'filters cleared');
  await page.locator(tid('domain-search')).fill(PLAN.search);
  await tableShows(X.searchMatches, X.searchMatches, `search ${PLAN.search}`);
  rs = await rows();
  const outside = rs.filter((r) => !r.name.includes(PLAN.search));
  check(outside.length === 0, `rows that do not contain ${JSON.stringify(PLAN.search)}: ${outside.map((r) => r.name).join(', ')}`);
  log(`  ${rs.length} rows, all containing "${PLAN.search}": ${rs.slice(0, 4).map((r) => r.name).join(', ')}…`);

  log('Refresh');
  await page.locator(tid('refresh')).click();
  await waitUntil('Refresh to finish', async () => (await text(page.locator(tid('refresh')))) === 'Refresh');
  await tableShows(X.searchMatches, X.searchMatches, 'after Refresh');

  const banners = await page.locator(tid('error-banner')).allTextContents();
  eq(banners.length, 0, `error banners on the page (${JSON.stringify(banners)})`);
}

// ---------------------------------------------------------------------------------------------

let ok = false;
try {
  log(`launch ${CHROMIUM} (user data ${userDataDir})`);
  browserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  browserContext.setDefaultTimeout(STEP_MS);
  page = browserContext.pages()[0] ?? (await browserContext.newPage());
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on('websocket', (ws) => {
    log(`  WebSocket opened: ${ws.url().replace(/(access_token|ticket)=[^&]+/g, '$1=…')}`);
    ws.on('framereceived', ({ payload }) => {
      try {
        const ev = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
        wsFrames.push({ type: ev.type, campaign_id: ev.campaign_id ?? null });
      } catch {
        wsFrames.push({ type: '(not JSON)', campaign_id: null });
      }
    });
  });

  await signIn();
  const id = await createCampaign();
  await startAndWatch(id);
  await campaignPage(id);

  // Exactly two requests failed, both on purpose: the wrong token and the invalid TLD. Chromium
  // logs each as a console error ("Failed to load resource"); any other console error, or an
  // uncaught error in the page, fails the run.
  const wantFailed = ['401 GET /api/v1/campaigns', '400 POST /api/v1/campaigns'];
  eq(JSON.stringify(failedResponses), JSON.stringify(wantFailed), 'the requests that failed');
  check(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join(' | ')}`);
  const unexpected = consoleErrors.filter((m) => !/^Failed to load resource: the server responded with a status of (401|400)\b/.test(m));
  check(unexpected.length === 0, `console errors: ${unexpected.join(' | ')}`);
  log(`failed requests, as intended: ${failedResponses.join(', ')}; no other console errors`);

  const path = await screenshot('campaign-page');
  log(`screenshot of the campaign page: ${path}`);
  ok = true;
} catch (err) {
  console.error(`\nFAIL: ${err instanceof CheckFailed ? err.message : err.stack || err}`);
  if (page) {
    console.error(`  at ${page.url()}`);
    const shot = await screenshot('failure').catch((e) => `(none: ${e.message})`);
    console.error(`  screenshot: ${shot}`);
    const body = await page.locator('main').innerText({ timeout: 2000 }).catch(() => '');
    if (body) console.error(`  page text:\n    ${body.slice(0, 1500).replace(/\n/g, '\n    ')}`);
  }
  if (pageErrors.length) console.error(`  uncaught page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) console.error(`  console errors: ${consoleErrors.join(' | ')}`);
  if (failedResponses.length) console.error(`  failed requests: ${failedResponses.join(', ')}`);
} finally {
  clearTimeout(watchdog);
  await browserContext?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
log(ok ? 'PASS' : 'FAILED');
process.exit(ok ? 0 : 1);
