// The microphone: opened with the settings the realtime API works best with, and the list of inputs.

const DEVICE_KEY = "voxgate.microphone";

/** Audio constraints: mono 24 kHz (the protocol's rate) with the browser's voice processing on. */
export function micConstraints(deviceId) {
  const audio = {
    channelCount: 1,
    sampleRate: 24000,
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
  if (deviceId) audio.deviceId = { exact: deviceId };
  return { audio, video: false };
}

export class MicError extends Error {
  /** code: "mic_denied" | "mic_missing" | "mic_busy" | "mic_unavailable" */
  constructor(code, cause) {
    super(cause?.message || code);
    this.name = "MicError";
    this.code = code;
    this.cause = cause;
  }
}

function classify(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "mic_denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "mic_missing";
    case "NotReadableError":
    case "AbortError":
      return "mic_busy";
    default:
      return "mic_unavailable";
  }
}

/** Open the microphone (the chosen one, falling back to the default if it is gone). */
export async function openMic(deviceId = savedMic()) {
  if (!navigator.mediaDevices?.getUserMedia) throw new MicError("mic_unavailable");
  try {
    return await navigator.mediaDevices.getUserMedia(micConstraints(deviceId));
  } catch (error) {
    if (deviceId && error?.name === "OverconstrainedError") return openMic("");
    throw new MicError(classify(error), error);
  }
}

/** The audio inputs (labels appear once the page has been allowed to use a microphone). */
export async function listMics() {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((device) => device.kind === "audioinput" && device.deviceId);
}

export function savedMic() {
  try {
    return localStorage.getItem(DEVICE_KEY) || "";
  } catch {
    return "";
  }
}

export function saveMic(deviceId) {
  try {
    if (deviceId) localStorage.setItem(DEVICE_KEY, deviceId);
    else localStorage.removeItem(DEVICE_KEY);
  } catch {
    /* not remembered */
  }
}

/** Stop every track of a stream (the browser's "mic in use" indicator goes off). */
export function stopStream(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}
