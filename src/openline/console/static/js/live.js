// A call, live: the API's tail (server-sent events, through the console with the
// session) says that the call changed; /console/calls/{id}/live says what, as HTML
// rendered exactly like the page, which is put in place by key and in time order.

const AWAITED_POLL_MS = 2000;
const AWAITED_POLLS = 60;

export function followCall({ callId, root, rev = -1, logsAfter = 0, level = '', liveLogs = true,
                             follow = false, awaited = false, onStatus = () => {},
                             onData = () => {}, onEnd = () => {} }) {
  const entries = root.querySelector('[data-live="entries"]');
  const logs = liveLogs ? root.querySelector('[data-live="logs"]') : null;
  const header = root.querySelector('[data-live="header"]');
  const panels = root.querySelector('[data-live="webhooks"]') !== null;
  let running = false;
  let again = false;
  let ended = false;
  let closed = false;
  let polls = 0; // asked again for what was awaited, since the start or the end
  let poll = null; // the timer of the next time
  let webhooks = ''; // the digest of the webhook markers last sent: unchanged, not sent again

  const tail = new EventSource(
    `/console/api/agents/calls/${encodeURIComponent(callId)}/stream?since_rev=${rev}`);
  tail.addEventListener('fact', () => refresh());
  if (awaited) askAgainLater(); // the page was drawn with a delivery under way
  tail.addEventListener('end', () => {
    tail.close();
    ended = true;
    polls = 0;
    refresh();
  });

  async function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const final = ended;
        const params = new URLSearchParams({
          since_rev: rev, logs_after: logsAfter, level, webhooks,
        });
        if (final && panels) params.set('final', '1');
        const reply = await fetch(`/console/calls/${encodeURIComponent(callId)}/live?${params}`, {
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
        });
        // A lapsed session answers with the sign-in page: stop following, quietly.
        if (!reply.ok || !(reply.headers.get('content-type') || '').includes('json')) {
          tail.close();
          break;
        }
        const data = await reply.json();
        apply(data);
        if (final && !closed) {
          closed = true;
          onEnd();
        }
        // What changes with nothing recorded meanwhile: a webhook delivery under way (sent,
        // retried), and after the end the analysis (summary, metric results) being made.
        // Look again every 2 s, for at most 2 minutes during the call and after its end.
        if (data.webhooks_pending || (final && data.analysis_awaited)) askAgainLater();
      } while (again);
    } finally {
      running = false;
    }
  }

  function askAgainLater() {
    if (poll !== null || polls >= AWAITED_POLLS) return;
    polls += 1;
    poll = setTimeout(() => { poll = null; refresh(); }, AWAITED_POLL_MS);
  }

  function apply(data) {
    rev = Math.max(rev, data.rev);
    webhooks = data.webhooks_digest;
    const atBottom = entries
      && entries.scrollHeight - entries.scrollTop - entries.clientHeight < 48;
    if (entries) {
      for (const item of data.entries) placeEntry(entries, item);
      if (data.entries.length) root.querySelector('[data-live="empty"]')?.remove();
    }
    if (follow && atBottom && data.entries.length) entries.scrollTop = entries.scrollHeight;
    if (logs) {
      logsAfter = data.logs_after;
      if (data.logs.length) root.querySelector('[data-live="logs-empty"]')?.remove();
      for (const line of data.logs) logs.append(fragment(line.html));
    }
    if (header) header.innerHTML = data.header;
    for (const name of ['webhooks', 'analysis']) {
      const box = root.querySelector(`[data-live="${name}"]`);
      if (box && data[name]) box.innerHTML = data[name];
    }
    const count = document.querySelector('#tab-transcript .count');
    if (count && entries) count.textContent = String(transcriptCount(entries));
    onStatus(data.status);
    onData(data);
  }

  return { close: () => tail.close() };
}

// A transcript not loaded yet (the page opened on another tab) holds only the entries
// that came live: its count is the page's plus those of facts newer than the page's (an
// entry that changed keeps its fact's seq).
function transcriptCount(entries) {
  if (!entries.dataset.src) return entries.children.length;
  const last = Number(entries.dataset.lastSeq);
  const added = [...entries.children].filter((entry) => Number(entry.dataset.seq) > last);
  return Number(entries.dataset.count) + added.length;
}

// An entry put in place by key (an entry that changed replaces the old one, keeping what
// the reader opened; ``keep``: the old one stays), or in time order.
export function placeEntry(entries, item, { keep = false } = {}) {
  const old = document.getElementById(item.key);
  if (old && keep) return;
  const node = fragment(item.html);
  if (old) {
    const open = [...old.querySelectorAll('details')].map((details) => details.open);
    node.querySelectorAll('details').forEach((details, i) => { details.open = !!open[i]; });
    old.replaceWith(node);
    return;
  }
  let after = entries.lastElementChild;
  while (after && later(after, item)) after = after.previousElementSibling;
  if (after) after.after(node);
  else entries.prepend(node);
  if (!keep) node.classList.add('fresh');
}

function later(element, item) {
  const t = Number(element.dataset.t);
  const seq = Number(element.dataset.seq);
  return t > item.t || (t === item.t && seq > item.seq);
}

function fragment(html) {
  const template = document.createElement('template');
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}
