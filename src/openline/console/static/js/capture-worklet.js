// The microphone on the audio thread: mono samples at the context's rate (usually 48 kHz)
// become signed 16-bit little-endian PCM at the rate the call asked for, posted in frames
// of `frameMs` together with their loudness (RMS, 0–1) for the level meter.

const SILENCE = new Float32Array(128); // one render quantum

class PcmCapture extends AudioWorkletProcessor {
  constructor({ processorOptions: { rate, frameMs } }) {
    super();
    this.step = sampleRate / rate; // input samples per output sample; 2.75625 at 44.1 kHz
    this.size = Math.round((rate * frameMs) / 1000);
    this.sum = 0;
    this.count = 0;
    this.position = 0;
    this.newFrame();
  }

  newFrame() {
    this.frame = new DataView(new ArrayBuffer(this.size * 2));
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    // A muted or ended track has no channel: it is silence, and the server needs the
    // silence too (it is what ends a turn).
    const input = inputs[0][0] || SILENCE;
    for (let i = 0; i < input.length; i += 1) {
      // Each output sample is the mean of the input samples it stands for: a crude
      // low-pass, enough to keep what is above 8 kHz from folding back onto the speech.
      this.sum += input[i];
      this.count += 1;
      this.position += 1;
      if (this.position >= this.step) {
        this.position -= this.step;
        this.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  push(value) {
    const clipped = Math.max(-1, Math.min(1, value));
    // DataView, not Int16Array: the wire format is little-endian whatever the machine is.
    this.frame.setInt16(this.filled * 2, Math.round(clipped * 32767), true);
    this.energy += clipped * clipped;
    this.filled += 1;
    if (this.filled === this.size) {
      const level = Math.sqrt(this.energy / this.size);
      this.port.postMessage({ pcm: this.frame.buffer, level }, [this.frame.buffer]);
      this.newFrame();
    }
  }
}

registerProcessor('pcm-capture', PcmCapture);
