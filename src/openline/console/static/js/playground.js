// The playground: call an agent by text from the browser. The websocket goes to the
// console (session cookie, same origin, CSRF token) which serves the client call
// protocol with the API's own route; no API key is ever in the page.
import { followCall } from './live.js';

const root = document.getElementById('playground');
const setup = root?.querySelector('#pg-setup');

if (setup) {
  const agent = root.querySelector('#pg-agent');
  const startButton = root.querySelector('#pg-start');
  const hangup = root.querySelector('#pg-hangup');
  const status = root.querySelector('#pg-status');
  const panel = root.querySelector('.pg-call');
  const callIdBox = root.querySelector('#pg-call-id');
  const open = root.querySelector('#pg-open');
  const transcript = panel.querySelector('[data-live="entries"]');
  const say = root.querySelector('#pg-say');
  const text = root.querySelector('#pg-text');
  const send = root.querySelector('#pg-send');
  const streamId = 'playground';
  let socket = null;
  let follower = null;

  const talking = (on) => {
    text.disabled = !on;
    send.disabled = !on;
    hangup.disabled = !on;
    startButton.disabled = on;
    agent.disabled = on;
  };

  setup.addEventListener('submit', (event) => {
    event.preventDefault();
    follower?.close();
    transcript.replaceChildren();
    panel.hidden = true;
    startButton.disabled = true;
    status.textContent = 'Connecting…';
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const path = `/console/api/agents/stream/${encodeURIComponent(agent.value)}`;
    const token = encodeURIComponent(root.dataset.csrf);
    socket = new WebSocket(`${scheme}//${window.location.host}${path}?csrf=${token}`);
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({
        event: 'start', stream_id: streamId, metadata: { source: 'console-playground' },
      }));
    });
    socket.addEventListener('message', (message) => {
      const event = JSON.parse(message.data);
      if (event.event === 'ack') {
        callIdBox.textContent = event.call_id;
        open.href = `/console/calls/${encodeURIComponent(event.call_id)}`;
        panel.hidden = false;
        talking(true);
        text.focus();
        status.textContent = 'Connected: say something.';
        follower = followCall({ callId: event.call_id, root: panel, follow: true });
      } else if (event.event === 'error') {
        status.textContent = `Error: ${event.message}`;
      } else if (event.event === 'transfer_call') {
        status.textContent = 'The agent asked to transfer the call.';
      }
    });
    socket.addEventListener('close', (closed) => {
      talking(false);
      startButton.disabled = false;
      const why = closed.reason ? `: ${closed.reason}.` : '.';
      if (!panel.hidden) {
        status.textContent = `The call has ended${why} Open the call page to see all of it.`;
        open.textContent = 'Open the finished call';
        open.focus();
      } else if (!status.textContent.startsWith('Error')) {
        status.textContent = `The call could not start${why}`;
      }
    });
  });

  say.addEventListener('submit', (event) => {
    event.preventDefault();
    const words = text.value.trim();
    if (!words || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ event: 'user_text', stream_id: streamId, text: words }));
    text.value = '';
  });

  hangup.addEventListener('click', () => socket?.close(1000, 'hung up in the playground'));
}
