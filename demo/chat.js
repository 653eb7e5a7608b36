// The demo's chat view: a conversation (system prompt, turns), the reply streamed into it, Stop (the
// reply so far stays in the conversation: chat() resolves with finishReason 'abort'), and per turn
// tokens/s, time to first token and the prompt tokens the engine's KV cache already held.
// Worker text only ever reaches the page as text (textContent, append of strings).

const $ = (id) => document.getElementById(id);

/**
 * Wires the chat controls. `engine()` is the engine holding the loaded model (null before a load),
 * `options()` the picker's schedule and the sampling fields, shared with the Generate view.
 */
export function setupChat({ engine, options }) {
  /** The conversation so far, as engine.chat() takes it (system prompt added at send time). */
  let turns = [];
  let controller = null;

  /** One message in the list: its role, then its text, returning the text node's element to stream into. */
  function show(role, text) {
    const li = document.createElement('li');
    li.className = role;
    const who = document.createElement('span');
    who.className = 'role';
    who.textContent = role;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(who, body);
    $('conversation').append(li);
    return body;
  }

  function reset() {
    turns = [];
    $('conversation').replaceChildren();
    $('chatStats').textContent = '';
  }

  function stats(r, ttftMs) {
    const bold = (text) => Object.assign(document.createElement('b'), { textContent: text });
    $('chatStats').className = '';
    $('chatStats').dataset.cached = String(r.usage.cachedTokens);
    $('chatStats').replaceChildren(bold(r.tokensPerSecond.toFixed(1)), ' tokens/s · first token ', bold(`${ttftMs.toFixed(0)} ms`),
      ' · cached ', bold(String(r.usage.cachedTokens)), ` of ${r.usage.promptTokens} prompt tokens · ${r.usage.completionTokens} tokens · ${r.finishReason}`);
  }

  async function send() {
    const text = $('chatInput').value;
    if (!engine() || text.trim() === '') return null;
    $('chatInput').value = '';
    turns.push({ role: 'user', content: text });
    show('user', text);
    const system = $('system').value;
    const messages = system ? [{ role: 'system', content: system }, ...turns] : turns;
    const template = $('template').value || undefined;
    controller = new AbortController();
    $('chatStats').textContent = '';
    $('send').disabled = true;
    $('chatStop').disabled = false;
    const reply = show('assistant', '');
    const t0 = performance.now();
    let ttftMs = 0;
    const stream = engine().chat(messages, { ...options(), template, signal: controller.signal });
    try {
      for await (const piece of stream) {
        if (!ttftMs) ttftMs = performance.now() - t0;
        reply.append(piece);
      }
      const r = await stream.result;
      // A stopped reply is kept: the next turn's prompt starts with it, so its KV is reused.
      turns.push({ role: 'assistant', content: r.text });
      stats(r, ttftMs);
      return r;
    } catch (e) {
      turns.pop(); // the user's message had no reply: it can be sent again
      reply.parentElement.remove();
      $('chatStats').className = 'error';
      $('chatStats').textContent = `${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(e)}`;
      throw e;
    } finally {
      $('send').disabled = !engine();
      $('chatStop').disabled = true;
    }
  }

  $('send').addEventListener('click', () => void send().catch(() => undefined));
  $('chatInput').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      void send().catch(() => undefined);
    }
  });
  $('chatStop').addEventListener('click', () => controller?.abort());
  $('newChat').addEventListener('click', reset);
  return { reset, send };
}
