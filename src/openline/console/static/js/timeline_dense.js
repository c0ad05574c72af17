// A lane with more items in view than it has room to tell apart, drawn on one canvas
// instead of an element per item: an hour-long call has thousands of items, and creating,
// styling and laying out an element for each cost Chromium most of the time it took to
// show the timeline. Colours come from the console's styles (the same classes the
// elements would have), so both ways of drawing look alike. A click picks the item under
// the pointer.

import { clearedCanvas } from './recording.js';

const DENSE_PX = 6; // below this much width per item in view, a lane is drawn here
const HIT_PX = 4; // how far from an item a click still picks it

// Whether ``count`` items in view are too many for a lane ``width`` pixels wide.
export function isDense(count, width) {
  return count * DENSE_PX > width;
}

export function denseLane(lane, { className, parts }) {
  const canvas = document.createElement('canvas');
  canvas.className = 'tl-dense';
  canvas.tabIndex = 0;
  canvas.hidden = true;
  lane.append(canvas);
  const colours = new Map(); // class names → the colour the styles give them
  let drawn = []; // what is on the canvas: { entry, from, to } in css pixels, by time

  function colour(names) {
    if (!colours.has(names)) {
      const probe = document.createElement('span');
      probe.className = names;
      probe.hidden = true;
      lane.append(probe);
      colours.set(names, getComputedStyle(probe).backgroundColor);
      probe.remove();
    }
    return colours.get(names);
  }

  // ``entries``: those in view, by time; ``x``: call time to pixels.
  function draw(entries, x, label) {
    canvas.hidden = false;
    canvas.setAttribute('aria-label', label);
    const { g, ratio } = clearedCanvas(canvas);
    g.setTransform(ratio, 0, 0, ratio, 0, 0); // drawn in the lane's css pixels
    const h = canvas.clientHeight;
    drawn = [];
    for (const entry of entries) {
      const { item } = entry;
      const from = x(item.t);
      const to = Math.max(from + 2, x(Math.max(item.until ?? item.t, item.t)));
      g.fillStyle = colour(className(item));
      g.fillRect(from, h * 0.18, to - from, h * 0.5);
      if (item.latency > 0) bar(g, item, x, h);
      drawn.push({ entry, from: x(item.t - (item.latency || 0)), to });
    }
  }

  // The wait before an answer, its parts stacked in order, under the turn.
  function bar(g, item, x, h) {
    let from = x(item.t - item.latency);
    const whole = x(item.t) - from;
    for (const name of parts) {
      const seconds = item.parts?.[name];
      if (seconds == null || seconds <= 0) continue;
      const width = (seconds / item.latency) * whole;
      g.fillStyle = colour(`lat-${name}`);
      g.fillRect(from, h * 0.74, width, h * 0.2);
      from += width;
    }
  }

  function hide() {
    canvas.hidden = true;
    drawn = [];
  }

  // The item drawn nearest the pointer, if any is within reach.
  function pick(clientX) {
    const at = clientX - canvas.getBoundingClientRect().left;
    let best = null;
    let distance = HIT_PX;
    for (const { entry, from, to } of drawn) {
      const off = at < from ? from - at : Math.max(0, at - to);
      if (off <= distance) {
        best = entry;
        distance = off;
      }
    }
    return best;
  }

  // The first item drawn from the left, for the keyboard.
  function first() {
    return drawn[0]?.entry ?? null;
  }

  return { canvas, draw, hide, pick, first };
}
