// The recording player: the WAV (fetched with the session), its waveform (one band per
// channel), click or arrow keys on the waveform to seek, and a download link.

export async function setupRecording(box) {
  const status = box.querySelector('[data-recording="status"]');
  const player = box.querySelector('.player');
  const audio = player.querySelector('audio');
  const canvas = player.querySelector('canvas');
  const download = player.querySelector('a[download]');

  let reply;
  try {
    reply = await fetch(box.dataset.src, { credentials: 'same-origin' });
  } catch {
    status.textContent = 'The recording could not be loaded.';
    return;
  }
  if (reply.status === 404) {
    status.textContent = 'No recording for this call.';
    box.dataset.state = 'none';
    return;
  }
  if (!reply.ok) {
    status.textContent = `The recording could not be loaded (HTTP ${reply.status}).`;
    return;
  }
  const bytes = await reply.arrayBuffer();
  const blob = new Blob([bytes], { type: reply.headers.get('content-type') || 'audio/wav' });
  const url = URL.createObjectURL(blob);
  audio.src = url;
  download.href = url;

  let channels = [];
  let duration = 0;
  try {
    const decoded = await new OfflineAudioContext(1, 1, 8000).decodeAudioData(bytes.slice(0));
    duration = decoded.duration;
    for (let c = 0; c < decoded.numberOfChannels; c += 1) {
      channels.push(peaks(decoded.getChannelData(c), 600));
    }
  } catch {
    channels = [];
  }
  if (!duration) {
    await new Promise((resolve) => {
      audio.addEventListener('loadedmetadata', resolve, { once: true });
    });
    duration = audio.duration || 0;
  }

  status.hidden = true;
  player.hidden = false;
  canvas.setAttribute('aria-valuemax', String(Math.round(duration)));
  canvas.dataset.channels = String(channels.length);
  box.dataset.state = 'ready';

  const draw = () => paint(canvas, channels, duration ? audio.currentTime / duration : 0);
  const describe = () => {
    canvas.setAttribute('aria-valuenow', String(Math.round(audio.currentTime)));
    canvas.setAttribute('aria-valuetext', `${clock(audio.currentTime)} of ${clock(duration)}`);
    draw();
  };
  const seek = (seconds) => {
    audio.currentTime = Math.min(Math.max(0, seconds), duration);
    describe();
  };

  audio.addEventListener('timeupdate', describe);
  audio.addEventListener('seeked', describe);
  window.addEventListener('resize', draw);
  canvas.addEventListener('click', (event) => {
    const box = canvas.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * duration);
  });
  canvas.addEventListener('keydown', (event) => {
    const step = Math.max(1, duration / 20);
    const moves = {
      ArrowRight: audio.currentTime + step,
      ArrowUp: audio.currentTime + step,
      ArrowLeft: audio.currentTime - step,
      ArrowDown: audio.currentTime - step,
      Home: 0,
      End: duration,
    };
    if (event.key === ' ' || event.key === 'Enter') {
      event.preventDefault();
      if (audio.paused) audio.play().catch(() => {});
      else audio.pause();
    } else if (event.key in moves) {
      event.preventDefault();
      seek(moves[event.key]);
    }
  });
  describe();
}

function peaks(samples, buckets) {
  const size = Math.max(1, Math.floor(samples.length / buckets));
  const found = [];
  for (let start = 0; start < samples.length; start += size) {
    let high = 0;
    const end = Math.min(samples.length, start + size);
    for (let i = start; i < end; i += 1) {
      const value = Math.abs(samples[i]);
      if (value > high) high = value;
    }
    found.push(high);
  }
  return found;
}

function paint(canvas, channels, played) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, width, height);
  const bands = Math.max(1, channels.length);
  const colors = [['#60a5fa', '#1e3a8a'], ['#4ade80', '#14532d']];
  channels.forEach((values, c) => {
    const top = (height / bands) * c;
    const middle = top + height / bands / 2;
    const scale = (height / bands / 2) * 0.9;
    const [bright, dim] = colors[c % colors.length];
    const bar = width / values.length;
    values.forEach((value, i) => {
      const x = i * bar;
      g.fillStyle = x / width <= played ? bright : dim;
      const h = Math.max(1, value * scale);
      g.fillRect(x, middle - h, Math.max(1, bar - 0.5), h * 2);
    });
  });
  g.fillStyle = '#f8fafc';
  g.fillRect(Math.min(width - 2, played * width), 0, 2 * ratio, height);
}

function clock(seconds) {
  const whole = Math.floor(seconds || 0);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}
