// The call's Timeline tab: one time axis (seconds from the call's start) with the
// recording's two channels, the turns (each answer's latency split in the gap before
// it), tool calls, events and metrics, log lines and webhook deliveries. Click an item to
// play from there; zoom with the buttons, + and −, or Ctrl+wheel; pan by dragging or
// Shift+wheel; arrow keys move between items. A live call's items come with its live
// updates (live.js), and the recording's peaks are asked again as it grows.
import { clock, setupRecording } from './recording.js';
import { denseLane, isDense } from './timeline_dense.js';

const PARTS = ['endpointing', 'stt', 'agent', 'tts', 'playout'];
const KIND_NAMES = {
  tool: 'Tool call', event: 'Event', metric: 'Metric', log: 'Log line', webhook: 'Webhook',
};
const MIN_SPAN_S = 1;
const ZOOM = 2;
const LIVE_PEAKS_MS = 2000;
const TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

export function setupTimeline(box, { live = false } = {}) {
  box.dataset.setupMs = String(Math.round(performance.now())); // bench/timeline.py reads these
  const part = (name) => box.querySelector(`[data-tl="${name}"]`);
  const body = part('body');
  const axis = part('axis');
  const playhead = part('playhead');
  const range = part('range');
  const selected = part('selected');
  const audio = part('audio');
  const play = part('play');
  const lanes = Object.fromEntries(
    [...box.querySelectorAll('[data-lane]')].map((lane) => [lane.dataset.lane, lane]));
  // Each lane draws its items as elements, made when first in view, or when too many are
  // in view, all on a canvas (timeline_dense.js).
  const dense = Object.fromEntries(Object.entries(lanes).map(
    ([name, lane]) => [name, denseLane(lane, { className: classesOf, parts: PARTS })]));
  const shown = new Map(); // key → { item, lane, node, bar } (node and bar once made)
  let order = []; // keys by time: the arrow keys' order
  let current = null; // the key in the tab order (one item at a time: a roving tabindex)
  let duration = 0;
  let view = { start: 0, end: 1 };
  let fitted = true; // showing the whole call, so the view grows with a live call
  let pending = []; // live updates that came while the first load was under way
  let loaded = false;
  let ticking = 0;
  let lastPeaks = 0;
  let known = { at: performance.now(), duration: 0 }; // the call's length when last told

  const recording = audio && setupRecording({
    canvas: part('wave'),
    audio,
    peaksUrl: box.dataset.peaks,
    view: () => view,
    onSeek: seek,
  });

  // -- the data ---------------------------------------------------------------------------

  async function load() {
    const params = new URLSearchParams({ level: box.dataset.level || '' });
    const [reply] = await Promise.all([
      fetch(`${box.dataset.src}?${params}`, {
        credentials: 'same-origin', headers: { Accept: 'application/json' },
      }),
      recording ? recording.refresh() : null,
    ]);
    if (!reply.ok || !(reply.headers.get('content-type') || '').includes('json')) {
      range.textContent = 'The timeline could not be loaded.';
      return;
    }
    const data = await reply.json();
    place(data.items);
    grow(data.duration);
    known = { at: performance.now(), duration: data.duration };
    loaded = true;
    for (const update of pending) apply(update);
    pending = [];
    part('logs-cut').hidden = !data.logs_cut;
    if (!live && recording) listen();
    layout();
    box.dataset.state = 'drawn';
    box.dataset.drawnMs = String(Math.round(performance.now()));
    if (live) tick();
  }

  // Items come by kind ({turn: [...], tool: [...], …}); each is known by its kind and id.
  function place(groups) {
    const items = Object.entries(groups).flatMap(([kind, list]) => list.map(
      (item) => ({ ...item, kind, key: `${kind}-${item.id}` })));
    for (const item of items) {
      const old = shown.get(item.key);
      const entry = { item, lane: laneOf(item), node: null, bar: null };
      shown.set(item.key, entry);
      if (old?.node) { // drawn already: drawn again as it is now
        const { node, bar } = old;
        make(entry);
        node.replaceWith(entry.node);
        bar?.remove();
      } else if (!old) {
        order.push(item.key);
      }
      duration = Math.max(duration, item.until ?? item.t);
    }
    order.sort((a, b) => shown.get(a).item.t - shown.get(b).item.t);
    current ??= order[0] ?? null;
    box.dataset.items = String(shown.size);
  }

  function grow(seconds) {
    duration = Math.max(duration, seconds || 0, recording ? recording.duration() : 0);
    if (fitted) view = { start: 0, end: Math.max(duration, MIN_SPAN_S) };
  }

  // A live update (live.js): the items that changed, and the call's length.
  function apply(data) {
    if (!loaded) {
      pending.push(data);
      return;
    }
    place(data.timeline || {});
    grow(data.duration);
    known = { at: performance.now(), duration: data.duration || 0 };
    layout();
  }

  // While the call runs its axis grows with the clock, between updates too, and the
  // recording's peaks are asked again every few seconds.
  function tick() {
    ticking = setInterval(() => {
      grow(known.duration + (performance.now() - known.at) / 1000);
      layout();
      if (recording && performance.now() - lastPeaks > LIVE_PEAKS_MS) {
        lastPeaks = performance.now();
        recording.refresh().then(() => { grow(0); layout(); });
      }
    }, 1000);
  }

  async function ended() {
    live = false;
    clearInterval(ticking);
    if (!recording) return;
    await recording.refresh();
    listen();
    box.querySelector('a[download]')?.removeAttribute('hidden');
    grow(0);
    layout();
  }

  // -- drawing ----------------------------------------------------------------------------

  function laneOf(item) {
    if (item.kind === 'turn') return item.role === 'user' ? 'user' : 'assistant';
    return item.kind === 'metric' ? 'event' : item.kind;
  }

  function classesOf(item) {
    const spans = item.until != null && item.until > item.t;
    return [`tl-item tl-${item.kind} ${spans ? 'tl-span' : 'tl-mark'}`,
      item.role && `role-${item.role}`, item.level && `level-${item.level}`]
      .filter(Boolean).join(' ');
  }

  // The entry's element (and its latency bar), put in its lane.
  function make(entry) {
    const { item } = entry;
    const node = document.createElement('button');
    node.type = 'button';
    node.tabIndex = current === item.key ? 0 : -1;
    node.className = classesOf(item);
    node.dataset.key = item.key;
    node.dataset.t = String(item.t);
    if (item.until != null) node.dataset.until = String(item.until);
    const text = describe(item);
    node.setAttribute('aria-label', text);
    node.title = text;
    entry.node = node;
    entry.bar = item.latency > 0 ? latencyBar(item) : null;
    lanes[entry.lane].append(node);
    if (entry.bar) lanes.assistant.append(entry.bar);
  }

  // The wait before an answer: from the caller's last voice, its parts stacked in order.
  function latencyBar(item) {
    const bar = document.createElement('button');
    bar.type = 'button';
    bar.tabIndex = -1;
    bar.className = 'tl-latency';
    bar.dataset.key = `${item.key}-latency`;
    bar.dataset.t = String(item.t - item.latency);
    bar.dataset.latency = String(item.latency);
    for (const name of PARTS) {
      const seconds = item.parts?.[name];
      if (seconds == null || seconds <= 0) continue;
      const piece = document.createElement('span');
      piece.className = `lat-${name}`;
      piece.dataset.part = name;
      piece.style.width = `${(seconds / item.latency) * 100}%`;
      bar.append(piece);
    }
    const text = `Latency ${item.latency.toFixed(2)} s before the answer at ${at(item.t)}: `
      + PARTS.filter((name) => item.parts?.[name] != null)
        .map((name) => `${name} ${item.parts[name].toFixed(2)} s`).join(', ');
    bar.setAttribute('aria-label', text);
    bar.title = text;
    return bar;
  }

  function describe(item) {
    const name = item.kind === 'turn'
      ? `${item.role === 'user' ? 'User' : 'Assistant'} turn` : KIND_NAMES[item.kind];
    const when = item.until != null && item.until > item.t
      ? `${at(item.t)}–${at(item.until)}` : at(item.t);
    return `${name} at ${when}: ${item.label || '(nothing said)'}`;
  }

  function layout() {
    const width = lanes.user.clientWidth;
    if (!width) return; // the tab is hidden: drawn when shown
    const span = view.end - view.start;
    const x = (t) => ((t - view.start) / span) * width;
    const inView = inViewByLane(view.start, view.end);
    for (const [name, entries] of Object.entries(inView)) {
      if (isDense(entries.length, width)) {
        lanes[name].dataset.dense = 'true';
        dense[name].draw(entries, x, `${entries.length} items, too close together to `
          + 'tell apart at this zoom: click one to play from there, or zoom in');
      } else {
        delete lanes[name].dataset.dense;
        dense[name].hide();
        for (const entry of entries) if (!entry.node) make(entry);
      }
    }
    for (const { item, lane, node, bar } of shown.values()) {
      if (!node) continue;
      const to = Math.max(item.until ?? item.t, item.t);
      const visible = !lanes[lane].dataset.dense && to >= view.start && item.t <= view.end;
      node.hidden = !visible;
      if (visible) {
        node.style.left = `${x(item.t)}px`;
        if (to > item.t) node.style.width = `${x(to) - x(item.t)}px`;
      }
      if (bar) {
        const from = item.t - item.latency;
        bar.hidden = !!lanes.assistant.dataset.dense || item.t < view.start || from > view.end;
        bar.style.left = `${x(from)}px`;
        bar.style.width = `${x(item.t) - x(from)}px`;
      }
    }
    ticks(width, span);
    box.dataset.viewStart = String(view.start);
    box.dataset.viewEnd = String(view.end);
    range.textContent = fitted
      ? `The whole call: ${clock(duration)}`
      : `Showing ${at(view.start)}–${at(view.end)} of ${clock(duration)}`;
    recording?.viewChanged();
    follow();
  }

  // The entries of each lane that show between ``start`` and ``end`` (a turn's latency
  // bar included), in time order.
  function inViewByLane(start, end) {
    const found = Object.fromEntries(Object.keys(lanes).map((name) => [name, []]));
    for (const key of order) {
      const entry = shown.get(key);
      const { item } = entry;
      const to = Math.max(item.until ?? item.t, item.t);
      if (to >= start && item.t - (item.latency || 0) <= end) found[entry.lane].push(entry);
    }
    return found;
  }

  function ticks(width, span) {
    const step = TICKS.find((each) => (each / span) * width >= 80) || TICKS[TICKS.length - 1];
    const marks = [];
    for (let n = Math.ceil(view.start / step); n * step <= view.end; n += 1) {
      const t = n * step;
      const x = ((t - view.start) / span) * width;
      const mark = document.createElement('span');
      mark.style.left = `${x}px`;
      mark.textContent = step < 1 ? at(t) : clock(t);
      if (x < 24) mark.className = 'tl-tick-first'; // kept inside the axis
      else if (x > width - 24) mark.className = 'tl-tick-last';
      marks.push(mark);
    }
    axis.replaceChildren(...marks);
  }

  // -- playing and seeking -------------------------------------------------------------------

  // The player reads the WAV only once asked to play or seek (preload="none": an hour
  // is 230 MB), in ranges from where it plays; the drawing never needs it.
  function listen() {
    if (audio.src) return;
    audio.src = box.dataset.audio;
    audio.hidden = false;
    play.disabled = false;
    play.removeAttribute('title');
    box.dataset.audioState = 'ready';
    audio.addEventListener('play', () => { playing(true); requestAnimationFrame(frame); });
    audio.addEventListener('pause', () => playing(false));
    audio.addEventListener('timeupdate', follow);
    audio.addEventListener('seeked', follow);
    play.addEventListener('click', () => {
      if (audio.paused) audio.play().catch(() => {});
      else audio.pause();
    });
  }

  function playing(on) {
    play.textContent = on ? 'Pause' : 'Play';
    play.setAttribute('aria-pressed', String(on));
  }

  function frame() {
    follow();
    if (!audio.paused) requestAnimationFrame(frame);
  }

  function seek(seconds) {
    if (!audio || !audio.src) return;
    audio.currentTime = Math.min(Math.max(0, seconds), recording.duration() || seconds);
    follow();
  }

  // The play-head follows the audio; playing past the view turns the page.
  function follow() {
    if (!audio || !audio.src) return;
    const t = audio.currentTime;
    const span = view.end - view.start;
    if (!audio.paused && !fitted && t > view.end) moveTo(t, span);
    const lane = lanes.user;
    playhead.hidden = t < view.start || t > view.end;
    playhead.style.left = `${lane.offsetLeft + ((t - view.start) / span) * lane.clientWidth}px`;
    recording.draw();
  }

  // -- zoom, pan, keys --------------------------------------------------------------------------

  function zoom(factor, around) {
    const span = view.end - view.start;
    const next = Math.min(Math.max(span * factor, MIN_SPAN_S), Math.max(duration, MIN_SPAN_S));
    const at = around ?? (audio && audio.src && !playhead.hidden
      ? audio.currentTime : view.start + span / 2);
    fitted = next >= duration;
    moveTo(at - ((at - view.start) / span) * next, next);
  }

  function moveTo(start, span) {
    const from = Math.min(Math.max(start, 0), Math.max(duration - span, 0));
    view = { start: from, end: from + span };
    layout();
  }

  function fit() {
    fitted = true;
    grow(0);
    layout();
  }

  function timeAt(clientX) {
    const box = lanes.user.getBoundingClientRect();
    return view.start + ((clientX - box.left) / box.width) * (view.end - view.start);
  }

  part('zoom-in').addEventListener('click', () => zoom(1 / ZOOM));
  part('zoom-out').addEventListener('click', () => zoom(ZOOM));
  part('fit').addEventListener('click', fit);

  box.addEventListener('keydown', (event) => {
    if (event.target.closest('input, select, textarea')) return;
    const keys = { '+': () => zoom(1 / ZOOM), '=': () => zoom(1 / ZOOM), '-': () => zoom(ZOOM), 0: fit };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
      return;
    }
    // From an item, the next or the one before; from a lane drawn on a canvas, its first.
    const from = event.target.closest('.tl-item, .tl-dense');
    if (!from) return;
    const onCanvas = from.matches('.tl-dense');
    const fromKey = onCanvas ? dense[from.parentElement.dataset.lane].first()?.item.key
      : from.dataset.key;
    if (fromKey == null) return;
    const index = order.indexOf(fromKey);
    const step = onCanvas ? 0 : 1;
    const moves = {
      ArrowRight: index + step, ArrowDown: index + step, ArrowLeft: index - step,
      ArrowUp: index - step, Home: 0, End: order.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    focusItem(order[Math.min(Math.max(moves[event.key], 0), order.length - 1)]);
  });

  function focusItem(key) {
    const entry = shown.get(key);
    reveal(entry);
    select(key, entry.item.t);
    entry.node.focus();
  }

  // Bring an item into view as an element: zoomed in around it until its lane has room
  // for an element per item (estimated first, then checked: at the call's ends the view
  // is not centred on it).
  function reveal(entry) {
    if (entry.node && !entry.node.hidden) return;
    const { item, lane } = entry;
    const width = lanes.user.clientWidth;
    const crowded = (span) => isDense(
      inViewByLane(item.t - span / 2, item.t + span / 2)[lane].length, width);
    let span = view.end - view.start;
    while (span > MIN_SPAN_S && crowded(span)) span /= ZOOM;
    for (;;) {
      span = Math.max(span, MIN_SPAN_S);
      fitted = span >= duration;
      moveTo(item.t - span / 2, span);
      if (!lanes[lane].dataset.dense || span === MIN_SPAN_S) break;
      span /= ZOOM;
    }
    if (!entry.node) make(entry); // more than a lane can tell apart in a second: still shown
    entry.node.hidden = false;
  }

  // The item the timeline's tab stop is on, and what it says; the audio moves to ``t``.
  function select(key, t) {
    if (current !== null && current !== key) setTabStop(current, -1);
    current = key;
    setTabStop(key, 0);
    choose(shown.get(key).item, t);
  }

  function setTabStop(key, tabIndex) {
    const node = shown.get(key)?.node;
    if (node) node.tabIndex = tabIndex;
  }

  body.addEventListener('click', (event) => {
    const canvas = event.target.closest('canvas.tl-dense');
    if (canvas) {
      const entry = dense[canvas.parentElement.dataset.lane].pick(event.clientX);
      if (entry) select(entry.item.key, entry.item.t);
      return;
    }
    const node = event.target.closest('[data-key]');
    if (!node) return;
    const key = node.dataset.key.replace(/-latency$/, '');
    if (shown.has(key)) select(key, Number(node.dataset.t));
  });

  function choose(item, t) {
    selected.textContent = details(item);
    seek(t);
  }

  function details(item) {
    const latency = item.latency > 0
      ? ` — latency ${item.latency.toFixed(2)} s (${PARTS.filter((n) => item.parts?.[n] != null)
        .map((n) => `${n} ${item.parts[n].toFixed(2)}`).join(', ')})` : '';
    return `${describe(item)}${latency}`;
  }

  // Drag to pan; Shift+wheel (or a sideways one) pans, Ctrl+wheel zooms where pointed.
  let dragged = null;
  body.addEventListener('pointerdown', (event) => {
    if (event.target.closest('[data-key], canvas') || event.button !== 0) return;
    dragged = { x: event.clientX, start: view.start };
    body.setPointerCapture(event.pointerId);
  });
  body.addEventListener('pointermove', (event) => {
    if (!dragged) return;
    const span = view.end - view.start;
    const moved = ((event.clientX - dragged.x) / lanes.user.clientWidth) * span;
    fitted = false;
    moveTo(dragged.start - moved, span);
  });
  body.addEventListener('pointerup', () => { dragged = null; });
  body.addEventListener('wheel', (event) => {
    const span = view.end - view.start;
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      zoom(Math.exp(event.deltaY * 0.002), timeAt(event.clientX));
    } else if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
      event.preventDefault();
      const moved = ((event.deltaX || event.deltaY) / lanes.user.clientWidth) * span;
      fitted = false;
      moveTo(view.start + moved, span);
    }
  }, { passive: false });
  window.addEventListener('resize', layout);

  load();
  return { apply, ended };
}

// A time on the call's clock to the hundredth: 1:02.50.
function at(seconds) {
  const hundredths = Math.floor(Math.max(0, seconds || 0) * 100 + 1e-6);
  return `${clock(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')}`;
}
