// The demo page's "Calibrate this model" panel in Chromium (demo/calibrate.js, served as `npm run demo`
// serves it): on stories260K with small settings, the progress runs through every phase to the end,
// the picker gains the calibrated schedule at its recommended level, generating with it skips about
// the target, the download link holds a schedule parseSchedule() accepts; Stop during calibration
// leaves the page usable; a .txt file and errors reach the panel as text.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseSchedule } from '../../src/sparsity/schedule.js';
import { startDemoServer, type DemoServer } from '../helpers/demo-server.js';
import { sharedPath } from '../helpers/shared.js';
import { describeBrowser, forwardPageLogs, launchBrowser, type LaunchedBrowser } from './harness.js';

/** Sets the panel's fields. */
async function settings(page: Page, s: { tokens: number; ctx: number; targets: string; budget: number }): Promise<void> {
  await page.evaluate((s) => {
    const set = (id: string, v: string) => { (document.getElementById(id) as HTMLInputElement).value = v; };
    set('calTokens', String(s.tokens));
    set('calCtx', String(s.ctx));
    set('calTargets', s.targets);
    set('calBudget', String(s.budget));
  }, s);
}

/** Generates with the picker's schedule and returns the stats line. */
async function generate(page: Page): Promise<string> {
  await page.$eval('#stats', (e) => { e.textContent = ''; });
  await page.click('#generate');
  await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('stats')!.textContent ?? ''), { timeout: 30_000 });
  return page.$eval('#stats', (e) => e.textContent!);
}

describeBrowser('demo page: calibrate this model', () => {
  let tmp: string;
  let server: DemoServer;
  let browser: LaunchedBrowser;
  let page: Page;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'was-edge-demo-calibrate-'));
    mkdirSync(join(tmp, 'stories260K'));
    copyFileSync(sharedPath('models/stories260K/stories260K.gguf'), join(tmp, 'stories260K/stories260K.gguf'));
    server = await startDemoServer(tmp);
    browser = await launchBrowser({ webgpu: false });
    page = await browser.browser.newPage();
    forwardPageLogs(page);
    await page.goto(`${server.origin}/demo/index.html?backend=cpu&maxTokens=24`);
    await page.evaluate(() => (window as unknown as { __models: Promise<unknown> }).__models);
    await page.click('#load');
    await page.waitForFunction(() => !(document.getElementById('calibrate') as HTMLButtonElement).disabled, { timeout: 30_000 });
    // The default text is fetched next to the page.
    await page.waitForFunction(() => (document.getElementById('calText') as HTMLTextAreaElement).value.length > 1000, { timeout: 10_000 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('calibrate and search: progress to the end, the schedule in the picker, skipped near the target, a JSON download', async () => {
    const t0 = performance.now();
    await settings(page, { tokens: 512, ctx: 64, targets: '0.5', budget: 3 });
    // Every phase line the panel shows, seen from inside the page (the phases pass faster than a poll).
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __phases: string[] }).__phases = seen;
      new MutationObserver(() => seen.push(document.getElementById('calPhase')!.textContent!))
        .observe(document.getElementById('calPhase')!, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#calibrate');
    await page.waitForFunction(() => /^done|error/.test(`${document.getElementById('calPhase')!.className} ${document.getElementById('calPhase')!.textContent}`.trim()), { timeout: 30_000 });
    expect(await page.$eval('#calPhase', (e) => e.textContent)).toMatch(/^done: stories260K, 2 levels/);
    expect(await page.$eval('#calProgress', (e) => (e as HTMLProgressElement).value)).toBe(1);
    const phases = await page.evaluate(() => (window as unknown as { __phases: string[] }).__phases);
    for (const p of [/^recording scores: chunk \d+ of 8$/, /^greedy splits: layer \d+ of \d+$/, /^dense pass/, /^evaluation 3 of 3 /, /^validation: target 1 of 1$/]) {
      expect(phases.some((x) => p.test(x)), `a phase line like ${p}`).toBe(true);
    }
    const ms = Math.round(performance.now() - t0);

    // The picker: the calibrated schedule's levels under their own heading, one of them chosen.
    const group = await page.$$eval('#schedule optgroup option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(group.sort()).toEqual(['stories260K@0.5@was-bo', 'stories260K@0.5@was-greedy']);
    expect(group).toContain(await page.$eval('#schedule', (e) => (e as HTMLSelectElement).value));

    // The summary: one row per target, uniform and was-bo KL, skipped fraction, default method.
    const rows = await page.$$eval('#calSummary tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(rows[0]).toEqual(['target', 'uniform KL', 'was-bo KL', 'was-bo skips', 'default']);
    expect(rows).toHaveLength(2);
    expect(rows[1]![0]).toBe('0.5');
    expect(rows[1]![1]).toMatch(/^\d+\.\d{3}$/);
    expect(rows[1]![3]).toMatch(/^\d+\.\d%$/);
    expect(rows[1]![4]).toMatch(/^was-(bo|greedy)$/);

    const stats = await generate(page);
    expect(stats).toContain('stories260K at 0.5');
    const skipped = Number(/skipped weights ([\d.]+)%/.exec(stats)![1]) / 100;
    expect(Math.abs(skipped - 0.5)).toBeLessThan(0.08);

    const download = await page.$eval('#calDownload', async (a) => {
      const link = a as HTMLAnchorElement;
      return { href: link.href, name: link.download, hidden: link.hidden, text: await (await fetch(link.href)).text() };
    });
    expect(download.href).toMatch(/^blob:/);
    expect(download).toMatchObject({ name: 'stories260K.json', hidden: false });
    const schedule = parseSchedule(JSON.parse(download.text));
    expect(schedule.model.id).toBe('stories260K');
    expect(schedule.levels.map((l) => `${l.target}@${l.method}`).sort()).toEqual(['0.5@was-bo', '0.5@was-greedy']);
    console.log(`demo calibrate: ${ms} ms to calibrate and search; "${stats}"`);
  });

  test('Stop during calibration: the panel says so, the picker is unchanged, and the page generates', async () => {
    const before = await page.$$eval('#schedule option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    await settings(page, { tokens: 1536, ctx: 64, targets: '0.5', budget: 3 });
    // Stop on the first recorded chunk, from inside the page: a round trip could miss the phase.
    await page.evaluate(() => {
      new MutationObserver((_, observer) => {
        if (!/^recording/.test(document.getElementById('calPhase')!.textContent ?? '')) return;
        observer.disconnect();
        document.getElementById('calStop')!.click();
      }).observe(document.getElementById('calPhase')!, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#calibrate');
    await page.waitForFunction(() => !/^(starting|recording)/.test(document.getElementById('calPhase')!.textContent ?? ''), { timeout: 30_000 });
    expect(await page.$eval('#calPhase', (e) => e.textContent)).toMatch(/^stopped/);
    expect(await page.$eval('#calibrate', (e) => (e as HTMLButtonElement).disabled)).toBe(false);
    expect(await page.$eval('#load', (e) => (e as HTMLButtonElement).disabled)).toBe(false);
    expect(await page.$$eval('#schedule option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(before);
    await page.select('#schedule', 'dense');
    expect(await generate(page)).toMatch(/ · \d+ tokens · \w+ · \w+, dense$/);
  });

  test('a .txt file replaces the text; a text too short for the search is an error in the panel, as text', async () => {
    const file = join(tmp, 'short.txt');
    writeFileSync(file, 'Once upon a time, there was a <b>cat</b>.');
    const input = await page.$('#calFile');
    await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(file);
    await page.waitForFunction(() => (document.getElementById('calText') as HTMLTextAreaElement).value.startsWith('Once upon a time, there was a <b>'), { timeout: 5_000 });
    await settings(page, { tokens: 512, ctx: 64, targets: '0.5, x', budget: 3 });
    await page.click('#calibrate');
    expect(await page.$eval('#calPhase', (e) => [e.className, e.textContent])).toEqual(['error', 'targets must be numbers separated by commas, e.g. 0.4, 0.5; got "0.5, x".']);
    await settings(page, { tokens: 512, ctx: 64, targets: '0.5', budget: 3 });
    await page.click('#calibrate');
    await page.waitForFunction(() => document.getElementById('calPhase')!.className === 'error', { timeout: 10_000 });
    expect(await page.$eval('#calPhase', (e) => e.textContent)).toBe('the text has 20 tokens; 512 to calibrate and search on and 256 held out need 768 in chunks of 64: use a longer text or fewer tokens.');
    expect(await page.$eval('#calPhase', (e) => e.querySelector('b'))).toBeNull();
    expect(await page.$eval('#calibrate', (e) => (e as HTMLButtonElement).disabled)).toBe(false);
  });

  test('page text is text, never parsed as HTML', () => {
    expect(readFileSync(new URL('../../demo/calibrate.js', import.meta.url), 'utf8')).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML/);
  });
});
