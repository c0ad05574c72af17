// The playground: call an agent from the browser, by text or with the microphone. The
// console mints a one-minute access token for the signed-in session (a form POST with
// the CSRF token) and the websocket goes to the API's own call route with it; no API
// key is ever in the page.
import { followCall } from './live.js';
import { INPUT_FORMAT, microphoneAvailable, openVoice } from './voice.js';

const root = document.getElementById('playground');
const setup = root?.querySelector('#pg-setup');

if (setup) {
  const agent = root.querySelector('#pg-agent');
  const startButtons = [...setup.querySelectorAll('button[type="submit"]')];
  const hangup = root.querySelector('#pg-hangup');
  const status = root.querySelector('#pg-status');
  const panel = root.querySelector('.pg-call');
  const callIdBox = root.querySelector('#pg-call-id');
  const open = root.querySelector('#pg-open');
  const recording = root.querySelector('#pg-recording');
  const transcript = panel.querySelector('[data-live="entries"]');
  const voiceView = voicePanel(root.querySelector('.pg-voice'));
  const say = root.querySelector('#pg-say');
  const text = root.querySelector('#pg-text');
  const send = root.querySelector('#pg-send');
  const streamId = 'playground';
  let socket = null;
  let follower = null;
  let voice = null;
  let live = false; // between the call's ack and its end: microphone frames go out

  const talking = (on) => {
    text.disabled = !on;
    send.disabled = !on;
    hangup.disabled = !on;
    for (const button of startButtons) button.disabled = on;
    agent.disabled = on;
  };
  // The page comes with them disabled: a click before this module has loaded would
  // submit the form as a plain GET, reloading the page instead of calling.
  talking(false);

  setup.addEventListener('submit', async (event) => {
    event.preventDefault();
    const withMicrophone = event.submitter?.dataset.mode === 'microphone';
    follower?.close();
    transcript.replaceChildren();
    panel.hidden = true;
    recording.hidden = true;
    voiceView.reset(withMicrophone);
    for (const button of startButtons) button.disabled = true;
    if (withMicrophone) {
      voice = await microphone();
      if (!voice) {
        for (const button of startButtons) button.disabled = false;
        return;
      }
    }
    status.textContent = 'Connecting…';
    const token = await accessToken();
    if (!token) {
      voice?.close();
      voice = null;
      status.textContent = 'The call could not start: reload the page (or sign in again).';
      for (const button of startButtons) button.disabled = false;
      return;
    }
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const path = `/agents/stream/${encodeURIComponent(agent.value)}`;
    const query = `access_token=${encodeURIComponent(token)}`;
    socket = new WebSocket(`${scheme}//${window.location.host}${path}?${query}`);
    let callId = null;
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({
        event: 'start',
        stream_id: streamId,
        metadata: { source: 'console-playground' },
        ...(voice ? { config: { input_format: INPUT_FORMAT } } : {}),
      }));
    });
    socket.addEventListener('message', (message) => {
      const event = JSON.parse(message.data);
      if (event.event === 'ack') {
        callId = event.call_id;
        live = true;
        callIdBox.textContent = callId;
        open.href = `/console/calls/${encodeURIComponent(callId)}`;
        panel.hidden = false;
        talking(true);
        status.textContent = voice ? 'Connected: speak, or type.' : 'Connected: say something.';
        if (!voice) text.focus();
        const onEnd = voice ? () => offerRecording(callId) : undefined;
        follower = followCall({ callId, root: panel, follow: true, onEnd });
      } else if (event.event === 'media_output') {
        voice?.play(event.media.payload);
        voiceView.received();
      } else if (event.event === 'agent_text') {
        voiceView.caption(event.text);
      } else if (event.event === 'clear') {
        voice?.clear();
        voiceView.cleared();
      } else if (event.event === 'error') {
        status.textContent = `Error: ${event.message}`;
      } else if (event.event === 'transfer_call') {
        status.textContent = 'The agent asked to transfer the call.';
      }
    });
    socket.addEventListener('close', (closed) => {
      live = false;
      voice?.close();
      voice = null;
      voiceView.ended();
      talking(false);
      const why = closed.reason ? `: ${closed.reason}.` : '.';
      if (callId) {
        status.textContent = `The call has ended${why} Open the call page to see all of it.`;
        open.textContent = 'Open the finished call';
        open.focus();
      } else if (!status.textContent.startsWith('Error')) {
        status.textContent = `The call could not start${why}`;
      }
    });
  });

  // A one-minute token that opens this session's calls; null when the session is over.
  async function accessToken() {
    const reply = await fetch('/console/access-token', {
      method: 'POST',
      credentials: 'same-origin',
      body: new URLSearchParams({ csrf_token: root.dataset.csrf }),
    }).catch(() => null);
    if (!reply?.ok || reply.redirected) return null;
    return (await reply.json()).token;
  }

  // The microphone, streaming into the call once it is acknowledged; null when refused.
  async function microphone() {
    if (!microphoneAvailable()) {
      status.textContent = 'This browser cannot use the microphone on this page: it needs '
        + 'HTTPS (or http://localhost).';
      return null;
    }
    status.textContent = 'Waiting for the microphone…';
    try {
      return await openVoice({
        onFrame(payload, level) {
          voiceView.level(level);
          if (!live || socket.readyState !== WebSocket.OPEN) return;
          const frame = { event: 'media_input', stream_id: streamId, media: { payload } };
          socket.send(JSON.stringify(frame));
          voiceView.sent();
        },
        onSpeaking: (speaking) => voiceView.speaking(speaking),
        onPlayed: (seconds) => voiceView.played(seconds),
      });
    } catch (error) {
      status.textContent = `The microphone could not be opened: ${error.message || error.name}.`;
      return null;
    }
  }

  // The recording link, once the finished call has one (agents may turn recording off):
  // asking for its first bytes says whether there is one without fetching all of it.
  async function offerRecording(callId) {
    const url = `/console/api/agents/calls/${encodeURIComponent(callId)}/audio`;
    const reply = await fetch(url, { credentials: 'same-origin', headers: { Range: 'bytes=0-11' } })
      .catch(() => null);
    reply?.body?.cancel();
    if (!reply?.ok) {
      status.textContent += reply?.status === 404
        ? ' No recording was kept.' : ' The recording cannot be reached just now.';
      return;
    }
    recording.href = url;
    recording.download = `${callId}.wav`;
    recording.hidden = false;
  }

  say.addEventListener('submit', (event) => {
    event.preventDefault();
    const words = text.value.trim();
    if (!words || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ event: 'user_text', stream_id: streamId, text: words }));
    text.value = '';
  });

  hangup.addEventListener('click', () => {
    voice?.close({ cut: true });
    voice = null;
    socket?.close(1000, 'hung up in the playground');
  });
}

// What a microphone call shows besides the transcript: listening or agent speaking, the
// microphone's level, the caption being spoken, and counters (data-*) for tests and
// for anyone wondering whether audio flows.
function voicePanel(box) {
  const state = box.querySelector('[data-voice="state"]');
  const meter = box.querySelector('meter');
  const caption = box.querySelector('[data-voice="caption"]');
  const count = (name) => { box.dataset[name] = String(Number(box.dataset[name]) + 1); };
  const show = (name, label) => {
    box.dataset.state = name;
    state.textContent = label;
  };
  return {
    reset(on) {
      box.hidden = !on;
      Object.assign(box.dataset, { framesSent: 0, framesReceived: 0, playedMs: 0, clears: 0 });
      caption.textContent = '';
      show('listening', 'Listening');
    },
    level(rms) {
      // Decibels, so that a quiet voice moves the bar: -60 dBFS and below is empty.
      meter.value = Math.max(0, 1 + Math.log10(Math.max(rms, 1e-6)) / 3);
    },
    sent: () => count('framesSent'),
    received: () => count('framesReceived'),
    speaking(on) {
      if (box.dataset.state === 'ended') return;
      if (on) show('speaking', 'Agent speaking');
      else show('listening', 'Listening');
    },
    played(seconds) {
      box.dataset.playedMs = String(Math.round(seconds * 1000));
    },
    caption(text) {
      caption.textContent = text;
      caption.classList.remove('cut');
    },
    cleared() {
      count('clears');
      caption.classList.add('cut');
    },
    ended() {
      show('ended', 'Call ended');
      meter.value = 0;
    },
  };
}
