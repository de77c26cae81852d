// The client secret, fetched ahead of time so that a click on "Connect" does not wait for minting, and
// fetched again before it expires. One secret can start several sessions until it expires (reference
// §1.1), so reconnects and renewals reuse it while it has time left. Minting counts against the user's
// allowance, so nothing is fetched until the person shows the intent to call (want(): focus or hover
// of Connect, or its first click); from then on a fresh one is kept at hand.
import { serverNow } from "./api.js";

export class TokenSource {
  /**
   * @param {() => Promise<object>} mint resolves to voxgate's token answer ({value, expires_at, ...})
   * @param {{refreshBeforeS?: number, minValidS?: number}} options refresh this long before expiry;
   *   never hand out a token with less than minValidS seconds left
   */
  constructor(mint, { refreshBeforeS = 60, minValidS = 20 } = {}) {
    this.mint = mint;
    this.refreshBeforeS = refreshBeforeS;
    this.minValidS = minValidS;
    this.token = null;
    this.pending = null;
    this.timer = null;
    this.active = false;
    this.wanted = false; // no secret is minted before the person shows they mean to call
    this.listeners = new Set();
    this.errorListeners = new Set();
    this.onVisible = () => {
      if (document.visibilityState !== "visible" || !this.token) return this.prefetch();
      if (this.secondsLeft() <= this.margins(this.token).refreshBefore) this.prefetch(true);
    };
  }

  /** Keep a fresh token at hand while the page is visible, once one is wanted. */
  start() {
    if (this.active) return;
    this.active = true;
    document.addEventListener("visibilitychange", this.onVisible);
    this.prefetch();
  }

  /** The person means to call (Connect focused, hovered or pressed): fetch a token now. */
  want() {
    this.wanted = true;
    this.prefetch();
  }

  /** Forget the token and stop refreshing (sign-out). */
  stop() {
    this.active = false;
    this.wanted = false;
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.timer);
    this.token = null;
    this.pending = null;
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  /** Told about failed background fetches (e.g. a 401 once the sign-in has ended). */
  onError(listener) {
    this.errorListeners.add(listener);
  }

  secondsLeft(token = this.token) {
    return token ? token.expires_at - serverNow() / 1000 : -Infinity;
  }

  // Short-lived secrets (the server may mint them for 10 s) scale the margins down with them.
  margins(token) {
    const lifetime = token?.lifetimeS || Infinity;
    return { refreshBefore: Math.min(this.refreshBeforeS, lifetime / 2), minValid: Math.min(this.minValidS, lifetime / 4) };
  }

  usable(token) {
    return Boolean(token) && this.secondsLeft(token) > this.margins(token).minValid;
  }

  /** The held token if it still has enough time left. */
  get valid() {
    return this.usable(this.token) ? this.token : null;
  }

  /**
   * Start fetching a token unless one is on its way, or (unless `renew`) a usable one is held.
   * Failures go to the onError listeners; the next get() asks again and reports its own.
   */
  prefetch(renew = false) {
    if (!this.active || !this.wanted || this.pending || (this.valid && !renew)) return;
    if (document.visibilityState === "hidden") return; // refreshed when the page is shown again
    this.fetch().catch((error) => {
      // The next get() asks again and reports the error; listeners hear of it now.
      for (const listener of this.errorListeners) listener(error);
    });
  }

  fetch() {
    const pending = this.mint().then(
      (token) => {
        token.lifetimeS = this.secondsLeft(token);
        if (this.pending === pending) {
          this.pending = null;
          this.token = token;
          this.schedule();
          for (const listener of this.listeners) listener(token);
        }
        return token;
      },
      (error) => {
        if (this.pending === pending) this.pending = null;
        throw error;
      },
    );
    this.pending = pending;
    return pending;
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.active || !this.token) return;
    const { refreshBefore } = this.margins(this.token);
    const inS = Math.max(1, this.secondsLeft() - refreshBefore);
    // The held token stays in use until its successor arrives.
    this.timer = setTimeout(() => this.prefetch(true), inS * 1000);
  }

  /** A token with time left: the held one, the one on its way, or a new one (errors are thrown). */
  async get() {
    this.wanted = true; // a call asked for one: keep one fresh from now on
    const valid = this.valid;
    if (valid) return valid;
    if (this.pending) {
      try {
        const token = await this.pending;
        if (this.usable(token)) return token;
      } catch {
        // A prefetch that failed earlier is not the answer to this request: ask again now.
      }
    }
    return this.fetch();
  }
}
