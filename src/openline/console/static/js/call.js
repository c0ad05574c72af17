// The call page: follow a call in progress; draw its timeline when that tab is shown.
import { followCall } from './live.js';
import { setupTimeline } from './timeline.js';

const root = document.getElementById('call');
const box = document.querySelector('.timeline[data-src]');
let timeline = null;

if (box) {
  const panel = box.closest('[role="tabpanel"]');
  // Drawn once visible (a hidden tab has no width to lay out in); it loads everything
  // recorded until then, and the live updates after.
  const show = () => {
    timeline ||= setupTimeline(box, { live: root.dataset.status === 'started' });
  };
  if (!panel.hidden) show();
  else document.addEventListener('tabchange', (event) => {
    if (event.detail === 'timeline') show();
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
    onStatus: (status) => { root.dataset.status = status; },
    onData: (data) => timeline?.apply(data),
    onEnd: () => timeline?.ended(),
  });
}
