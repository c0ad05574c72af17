// The call page: follow a call in progress; draw its timeline, and fetch its transcript
// when the page opened on another tab, once their tab is shown.
import { followCall, placeEntry } from './live.js';
import { setupTimeline } from './timeline.js';

const root = document.getElementById('call');
const box = document.querySelector('.timeline[data-src]');
const transcript = document.querySelector('ol.transcript[data-src]');
let timeline = null;

// Once the panel holding ``element`` is visible (a hidden tab has no width to lay out in).
function whenShown(element, tab, start) {
  if (!element.closest('[role="tabpanel"]').hidden) start();
  else document.addEventListener('tabchange', (event) => {
    if (event.detail === tab) start();
  });
}

// Everything recorded until then; the live updates bring the rest.
if (box) {
  whenShown(box, 'timeline', () => {
    timeline ||= setupTimeline(box, { live: root.dataset.status === 'started' });
  });
}

if (transcript) {
  let asked = false;
  whenShown(transcript, 'transcript', async () => {
    if (asked) return;
    asked = true;
    const loading = root.querySelector('[data-live="loading"]');
    const reply = await fetch(transcript.dataset.src, {
      credentials: 'same-origin', headers: { Accept: 'application/json' },
    });
    if (!reply.ok || !(reply.headers.get('content-type') || '').includes('json')) {
      loading.textContent = 'The transcript could not be loaded: reload the page.';
      return;
    }
    const { entries } = await reply.json();
    // Entries a live call added meanwhile are kept; the rest go in by time.
    if (!transcript.children.length) transcript.innerHTML = entries.map((e) => e.html).join('');
    else for (const item of entries) placeEntry(transcript, item, { keep: true });
    delete transcript.dataset.src;
    loading.remove();
    const count = document.querySelector('#tab-transcript .count');
    if (count) count.textContent = String(transcript.children.length);
  });
}

if (root && root.dataset.status === 'started') {
  followCall({
    callId: root.dataset.callId,
    root,
    rev: Number(root.dataset.rev),
    logsAfter: Number(root.dataset.logsAfter),
    level: root.dataset.level,
    liveLogs: !root.dataset.logsFiltered,
    awaited: Boolean(root.dataset.webhooksPending),
    onStatus: (status) => { root.dataset.status = status; },
    onData: (data) => timeline?.apply(data),
    onEnd: () => timeline?.ended(),
  });
}
