// Audio for microphone calls: the microphone as 16 kHz PCM frames (through the
// capture worklet), and the agent's PCM frames played back to back on one AudioContext.

export const INPUT_FORMAT = 'pcm_16000'; // asked of the server, both ways
const RATE = 16000;
const FRAME_MS = 40; // small enough for prompt turn-taking, large enough to be few messages
// Frames arrive paced in real time, give or take the network. When playback has run dry,
// the next frame starts this much late, so the ones after it queue up behind it instead
// of each arriving just after its turn (a click of silence between every two frames).
const JITTER_S = 0.1;

// getUserMedia exists only on secure pages (HTTPS, or http://localhost / 127.0.0.1).
export function microphoneAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia
    && window.AudioWorkletNode);
}

// Opens the microphone (the browser asks for permission) and calls onFrame(base64, level)
// every FRAME_MS; onSpeaking(bool) when the agent's audio starts and stops, onPlayed(s)
// with the seconds of it played so far. Call it from a click: an AudioContext made
// outside one stays silent.
export async function openVoice({ onFrame, onSpeaking, onPlayed }) {
  const context = new AudioContext();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      // The agent plays through the speakers: without echo cancellation it hears itself
      // and cuts itself off.
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    await context.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
  } catch (error) {
    for (const track of stream?.getTracks() || []) track.stop();
    context.close();
    throw error;
  }
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, 'pcm-capture', {
    numberOfOutputs: 0,
    channelCount: 1,
    channelCountMode: 'explicit', // Web Audio mixes a stereo microphone down to mono
    processorOptions: { rate: RATE, frameMs: FRAME_MS },
  });
  capture.port.onmessage = ({ data }) => onFrame(toBase64(data.pcm), data.level);
  source.connect(capture);
  const speaker = new Speaker(context, onSpeaking, onPlayed);

  return {
    play: (payload) => speaker.play(fromBase64(payload)),
    clear: () => speaker.clear(),
    // Stop listening at once; let what is scheduled finish playing unless `cut`.
    close({ cut = false } = {}) {
      capture.port.onmessage = null;
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      if (cut) speaker.clear();
      setTimeout(() => context.close(), speaker.remaining() * 1000);
    },
  };
}

class Speaker {
  constructor(context, onSpeaking, onPlayed) {
    this.context = context;
    this.onSpeaking = onSpeaking;
    this.onPlayed = onPlayed;
    this.playing = new Set();
    this.until = 0; // when the last scheduled frame ends, on the context's clock
    this.played = 0; // seconds of agent audio that played to the end
  }

  play(pcm) {
    const view = new DataView(pcm);
    const count = view.byteLength >> 1;
    if (!count) return;
    const buffer = this.context.createBuffer(1, count, RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < count; i += 1) samples[i] = view.getInt16(2 * i, true) / 32768;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const now = this.context.currentTime;
    if (this.until < now) this.until = now + JITTER_S;
    source.start(this.until);
    this.until += buffer.duration;
    source.addEventListener('ended', () => {
      // Stopped by clear() it is gone already, and did not play to the end.
      if (!this.playing.delete(source)) return;
      this.played += buffer.duration;
      this.onPlayed(this.played);
      if (!this.playing.size) this.onSpeaking(false);
    });
    this.playing.add(source);
    if (this.playing.size === 1) this.onSpeaking(true);
  }

  // The caller cut in: silence now, and forget everything scheduled.
  clear() {
    const stopping = [...this.playing];
    this.playing.clear();
    for (const source of stopping) source.stop();
    this.until = 0;
    if (stopping.length) this.onSpeaking(false);
  }

  remaining() {
    return Math.max(0, this.until - this.context.currentTime);
  }
}

function toBase64(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer)));
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0)).buffer;
}
