// The call page: follow a call in progress; load the recording when its tab is shown.
import { followCall } from './live.js';
import { setupRecording } from './recording.js';

const root = document.getElementById('call');

if (root && root.dataset.status === 'started') {
  followCall({
    callId: root.dataset.callId,
    root,
    rev: Number(root.dataset.rev),
    logsAfter: Number(root.dataset.logsAfter),
    level: root.dataset.level,
    liveLogs: !root.dataset.logsFiltered,
    onStatus: (status) => { root.dataset.status = status; },
  });
}

const recording = document.querySelector('.recording[data-src]');
if (recording) {
  const panel = recording.closest('[role="tabpanel"]');
  let started = false;
  const load = () => {
    if (started) return;
    started = true;
    setupRecording(recording);
  };
  if (!panel.hidden) load();
  else document.addEventListener('tabchange', (event) => {
    if (event.detail === 'recording') load();
  });
}
