// The recording on the call's timeline: its two channels (caller above, agent below)
// drawn from the server's peaks — never from the WAV, which the <audio> element streams
// for playback only — as a slider over the audio: click, arrow keys, Home and End seek;
// Space or Enter plays and pauses.

const MAX_POINTS = 20000;
const WINDOW_DELAY_MS = 150;
const COLORS = [['#60a5fa', '#31558f'], ['#4ade80', '#2c6b43']]; // played, to play

export function setupRecording({ canvas, audio, peaksUrl, view, onSeek }) {
  let whole = null; // peaks of the whole recording (so far, while the call runs)
  let zoomed = null; // finer peaks of the window in view, once zoomed in
  let windowTimer = 0;

  async function fetchPeaks(start, end) {
    const params = new URLSearchParams({ points: String(points()) });
    if (end !== undefined) {
      params.set('start', String(Math.max(0, start)));
      params.set('end', String(end));
    }
    try {
      const reply = await fetch(`${peaksUrl}?${params}`, { credentials: 'same-origin' });
      return reply.ok ? await reply.json() : null;
    } catch {
      return null;
    }
  }

  function points() {
    const ratio = window.devicePixelRatio || 1;
    return Math.max(1, Math.min(MAX_POINTS, Math.round(canvas.clientWidth * ratio)));
  }

  // The whole recording's peaks: at the start, and again while a live call records.
  async function refresh() {
    const found = await fetchPeaks();
    if (found) {
      whole = found;
      canvas.dataset.channels = String(Object.keys(found.channels).length);
      canvas.dataset.duration = String(found.duration);
    }
    draw();
    return found;
  }

  // Zoomed in, the window's own peaks replace the whole call's (a little later, so that
  // a burst of zooming asks once).
  function viewChanged() {
    clearTimeout(windowTimer);
    const { start, end } = view();
    const wholeWillDo = !whole || end - start >= whole.duration * 0.9;
    if (wholeWillDo) zoomed = null;
    draw();
    const sharp = zoomed
      && zoomed.seconds_per_point <= Math.max(0.01, (end - start) / points()) * 2;
    if (wholeWillDo || (sharp && covers(zoomed, start, end))) return;
    windowTimer = setTimeout(async () => {
      const found = await fetchPeaks(start, end);
      const now = view();
      if (found && now.start === start && now.end === end) {
        zoomed = found;
        draw();
      }
    }, WINDOW_DELAY_MS);
  }

  function duration() {
    return Math.max(whole ? whole.duration : 0, Number.isFinite(audio.duration) ? audio.duration : 0);
  }

  function draw() {
    const shown = view();
    const { start, end } = shown;
    const fine = covers(zoomed, start, end) ? zoomed : whole;
    paint(canvas, fine, start, end, audio.currentTime);
    canvas.setAttribute('aria-valuemax', String(Math.round(duration())));
    canvas.setAttribute('aria-valuenow', String(Math.round(audio.currentTime)));
    canvas.setAttribute('aria-valuetext', `${clock(audio.currentTime)} of ${clock(duration())}`);
  }

  canvas.addEventListener('click', (event) => {
    const box = canvas.getBoundingClientRect();
    const { start, end } = view();
    onSeek(start + ((event.clientX - box.left) / box.width) * (end - start));
  });
  canvas.addEventListener('keydown', (event) => {
    const { start, end } = view();
    const step = Math.max(1, (end - start) / 20);
    const moves = {
      ArrowRight: audio.currentTime + step,
      ArrowUp: audio.currentTime + step,
      ArrowLeft: audio.currentTime - step,
      ArrowDown: audio.currentTime - step,
      Home: 0,
      End: duration(),
    };
    if (event.key === ' ' || event.key === 'Enter') {
      event.preventDefault();
      if (audio.paused) audio.play().catch(() => {});
      else audio.pause();
    } else if (event.key in moves) {
      event.preventDefault();
      onSeek(moves[event.key]);
    }
  });

  return { refresh, viewChanged, draw, duration };
}

// Whether ``peaks`` hold the window (to the last 10 ms block: a window's own peaks start
// on a block's edge).
function covers(peaks, start, end) {
  if (!peaks) return false;
  const step = peaks.seconds_per_point;
  const until = peaks.start + Object.values(peaks.channels)[0].max.length * step;
  return peaks.start <= start + 0.01 && until >= Math.min(end, peaks.duration) - step;
}

// A canvas' bitmap sized to its box in this screen's pixels, cleared, to draw on.
export function clearedCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext('2d');
  g.setTransform(1, 0, 0, 1, 0, 0);
  g.clearRect(0, 0, width, height);
  return { g, ratio, width, height };
}

function paint(canvas, peaks, start, end, played) {
  const { g, width, height } = clearedCanvas(canvas);
  if (!peaks) return;
  const span = Math.max(1e-6, end - start);
  const step = peaks.seconds_per_point;
  const bar = Math.max(1, (step / span) * width);
  const first = Math.max(0, Math.floor((start - peaks.start) / step));
  const bands = Object.values(peaks.channels);
  bands.forEach(({ min, max }, c) => {
    const middle = (height / bands.length) * (c + 0.5);
    const scale = (height / bands.length / 2) * 0.9 / 128;
    const [bright, dim] = COLORS[c % COLORS.length];
    for (let i = first; i < max.length; i += 1) {
      const t = peaks.start + i * step;
      if (t > end) break;
      const x = ((t - start) / span) * width;
      g.fillStyle = t <= played ? bright : dim;
      const top = middle - max[i] * scale;
      g.fillRect(x, top, bar, Math.max(1, (max[i] - min[i]) * scale));
    }
  });
}

export function clock(seconds) {
  const whole = Math.floor(seconds || 0);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}
