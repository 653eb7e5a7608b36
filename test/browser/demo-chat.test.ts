// The demo page's chat view in Chromium (demo/chat.js, served as `npm run demo` serves it): two turns
// on stories260K with the ChatML template, each reply streamed into the conversation; turn 2's prompt
// starts with turn 1's, so the stats show cached tokens; Stop keeps the reply so far; worker text is
// text, never HTML.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startDemoServer, type DemoServer } from '../helpers/demo-server.js';
import { sharedPath } from '../helpers/shared.js';
import { describeBrowser, forwardPageLogs, launchBrowser, type LaunchedBrowser } from './harness.js';

/** Sends `text` and waits for the reply's stats; returns the conversation and the cached-token count. */
async function turn(page: Page, text: string): Promise<{ messages: { role: string; text: string }[]; cached: number; stats: string }> {
  await page.$eval('#chatStats', (e) => { e.textContent = ''; });
  await page.$eval('#chatInput', (e, t) => { (e as HTMLTextAreaElement).value = t; }, text);
  await page.click('#send');
  await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('chatStats')!.textContent ?? ''), { timeout: 60_000 });
  return page.evaluate(() => ({
    messages: [...document.querySelectorAll('#conversation li')].map((li) => ({ role: li.className, text: li.querySelector('.text')!.textContent! })),
    cached: Number(document.getElementById('chatStats')!.dataset.cached),
    stats: document.getElementById('chatStats')!.textContent!,
  }));
}

describeBrowser('demo page: chat view', () => {
  let tmp: string;
  let server: DemoServer;
  let browser: LaunchedBrowser;
  let page: Page;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'was-edge-demo-chat-'));
    mkdirSync(join(tmp, 'stories260K'));
    copyFileSync(sharedPath('models/stories260K/stories260K.gguf'), join(tmp, 'stories260K/stories260K.gguf'));
    server = await startDemoServer(tmp);
    browser = await launchBrowser({ webgpu: false });
    page = await browser.browser.newPage();
    forwardPageLogs(page);
    await page.goto(`${server.origin}/demo/index.html?backend=cpu&maxTokens=10&template=chatml`);
    await page.waitForFunction(() => (window as unknown as { __models?: Promise<unknown> }).__models !== undefined);
    await page.evaluate(() => (window as unknown as { __models: Promise<unknown> }).__models);
    await page.click('#load');
    await page.waitForFunction(() => !(document.getElementById('send') as HTMLButtonElement).disabled, { timeout: 60_000 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('two turns: replies stream into the conversation, turn 2 reuses the KV cache of turn 1', async () => {
    const first = await turn(page, 'Tell me a <b>story</b>.');
    expect(first.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(first.messages[0]!.text).toBe('Tell me a <b>story</b>.');
    expect(first.messages[1]!.text.length).toBeGreaterThan(0);
    expect(first.cached).toBe(0);
    const second = await turn(page, 'And then?');
    expect(second.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(second.cached).toBeGreaterThan(0);
    expect(second.stats).toMatch(/first token \d+ ms · cached [1-9]\d* of \d+ prompt tokens/);
    console.log(`demo chat: turn 1 "${first.stats}"; turn 2 "${second.stats}"`);
  });

  test('worker text is shown as text, never parsed as HTML', async () => {
    expect(await page.$eval('#conversation', (e) => e.querySelector('b'))).toBeNull();
    for (const f of ['demo.js', 'chat.js']) {
      expect(readFileSync(new URL(`../../demo/${f}`, import.meta.url), 'utf8')).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML/);
    }
  });

  test('Stop ends the reply and keeps it; New conversation empties the list', async () => {
    await page.$eval('#maxTokens', (e) => { (e as HTMLInputElement).value = '400'; });
    await page.$eval('#chatInput', (e) => { (e as HTMLTextAreaElement).value = 'A long one, please.'; });
    // Stop is pressed from inside the page on the first streamed piece: the CPU decodes this model too fast for a round trip.
    await page.evaluate(() => {
      new MutationObserver((_, observer) => {
        const reply = document.querySelector('#conversation li.assistant:last-child .text');
        if (!reply?.textContent) return;
        observer.disconnect();
        document.getElementById('chatStop')!.click();
      }).observe(document.getElementById('conversation')!, { childList: true, subtree: true, characterData: true });
    });
    await page.click('#send');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('chatStats')!.textContent ?? ''), { timeout: 60_000 });
    expect(await page.$eval('#chatStats', (e) => e.textContent)).toMatch(/ · abort$/);
    expect(await page.$$eval('#conversation li', (ls) => ls.length)).toBe(6);
    await page.click('#newChat');
    expect(await page.$$eval('#conversation li', (ls) => ls.length)).toBe(0);
  });
});
