// Live level meters for the microphone and the assistant (WebAudio AnalyserNodes, read once a frame).
// One AudioContext serves both; close() releases it (on stop, sign-out and page hide).

const FLOOR_DB = -60; // quieter than this shows as empty

/** RMS of float samples → 0..1 on a decibel scale. */
export function levelOf(samples) {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  const rms = Math.sqrt(sum / (samples.length || 1));
  const db = 20 * Math.log10(rms || 1e-9);
  return Math.max(0, Math.min(1, (db - FLOOR_DB) / -FLOOR_DB));
}

export class Meters {
  constructor() {
    this.context = null;
    this.meters = new Map(); // name → {element, source, analyser, buffer}
    this.frame = null;
  }

  /** Create (or resume) the AudioContext; call it from a click so autoplay rules allow it. */
  open() {
    if (!this.context || this.context.state === "closed") this.context = new AudioContext();
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
    return this.context;
  }

  /** Show the level of `stream` in `element` (a .meter with role="meter"); null detaches. */
  attach(name, stream, element) {
    this.detach(name);
    if (!stream || !stream.getAudioTracks().length) return;
    const context = this.open();
    const source = context.createMediaStreamSource(stream);
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser); // not to the destination: the <audio> element plays the assistant
    this.meters.set(name, { element, source, analyser, buffer: new Float32Array(analyser.fftSize), peak: 0 });
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  /**
   * Start watching `name`'s loudest level; the function returned tells it (0..1), or null when that
   * meter is not running (nothing is known then).
   */
  watch(name) {
    const meter = this.meters.get(name);
    if (!meter) return () => null;
    meter.peak = 0;
    return () => (this.meters.get(name) === meter ? meter.peak : null);
  }

  detach(name) {
    const meter = this.meters.get(name);
    if (!meter) return;
    meter.source.disconnect();
    this.meters.delete(name);
    show(meter.element, 0);
  }

  draw() {
    this.frame = null;
    for (const meter of this.meters.values()) {
      meter.analyser.getFloatTimeDomainData(meter.buffer);
      const level = levelOf(meter.buffer);
      meter.peak = Math.max(meter.peak, level);
      show(meter.element, level);
    }
    if (this.meters.size) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** Detach everything and close the AudioContext. */
  close() {
    for (const name of [...this.meters.keys()]) this.detach(name);
    cancelAnimationFrame(this.frame);
    this.frame = null;
    const context = this.context;
    this.context = null;
    if (context && context.state !== "closed") return context.close().catch(() => {});
    return Promise.resolve();
  }
}

function show(element, level) {
  if (!element) return;
  const percent = Math.round(level * 100);
  element.style.setProperty("--level", level.toFixed(3));
  if (element.getAttribute("aria-valuenow") !== String(percent)) element.setAttribute("aria-valuenow", percent);
}
