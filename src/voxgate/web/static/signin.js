// Sign-in with an API key or a one-time link, sign-out, and who is signed in. The link's token arrives
// in the URL fragment (#link=…): fragments never reach the server, its logs, or a Referer header.
import { ApiError, me, signIn, signOut } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
// Waits between the first questions to an unreachable voxgate (then the page stops and offers a button).
const START_RETRIES_MS = [1000, 2000, 4000];

export class Account {
  /**
   * @param {object} hooks onUser(user|null, info) after every change (info: /api/me's answer, with
   *   console_mode); onError(error|message);
   *   beforeSignOut() to end a call first
   */
  constructor({ onUser, onError, beforeSignOut }) {
    Object.assign(this, { onUser, onError, beforeSignOut });
    this.user = null;
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.withKey($("key").value.trim());
    });
    $("signout-button").addEventListener("click", () => this.signOut());
    // A link opened in a tab that already shows the console changes only the fragment.
    window.addEventListener("hashchange", () => this.useLink());
  }

  /** Sign in with the link in the URL fragment, if there is one (then the fragment is removed). */
  async useLink() {
    const link = new URLSearchParams(location.hash.slice(1)).get("link");
    if (!link) return false;
    history.replaceState(null, "", "/" + location.search);
    await this.signIn({ link }, "signin.badLink");
    return Boolean(this.user);
  }

  /**
   * Who is signed in. While voxgate cannot be reached the question is asked again a few times, a
   * little later each time (about 7 s in all), then the error stays with a button to ask again.
   */
  async start() {
    if (await this.useLink()) return;
    for (let attempt = 0; ; attempt++) {
      try {
        const info = await me();
        this.onError(null);
        this.show(info.user, info);
        return;
      } catch (error) {
        const unreachable = error instanceof ApiError && (error.status === 0 || (error.status >= 500 && !error.code));
        if (unreachable && attempt < START_RETRIES_MS.length) {
          if (attempt === 0) this.show(null);
          this.onError({ key: "error.offlineRetrying", help: "error.offlineHelp" });
          await new Promise((resolve) => setTimeout(resolve, START_RETRIES_MS[attempt]));
          continue;
        }
        this.show(null);
        if (unreachable) this.onError({ key: "error.offline", help: "error.offlineHelp", action: "recheck" });
        else if (!(error instanceof ApiError && error.status === 401)) this.onError(error);
        return;
      }
    }
  }

  async withKey(key) {
    await this.signIn({ key }, "signin.badKey");
    if (this.user) $("key").value = "";
  }

  async signIn(credentials, badKey) {
    this.onError(null);
    try {
      let info = await signIn(credentials);
      // How the console connects is told by /api/me; ask it if the sign-in answer does not say.
      if (!info.console_mode) info = await me().catch(() => info);
      this.show(info.user, info);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.onError({ key: badKey });
      else if (error instanceof ApiError && error.status === 429) {
        // Too many failed sign-ins from here: about signing in, not about calls, and counted down.
        this.onError({ key: "error.signinLocked", help: "error.signinLockedHelp", countdown: error.retryAfter || 60, gate: "signin" });
      } else this.onError(error);
      if (!this.user) this.show(null);
    }
  }

  async signOut() {
    this.onError(null);
    await this.beforeSignOut?.();
    try {
      await signOut();
    } catch (error) {
      this.onError(error);
    }
    this.show(null);
    $("key").focus();
  }

  /** Signed out: called when the server says the session ended (a 401 during a call). */
  signedOut() {
    this.show(null);
  }

  show(user, info = {}) {
    this.user = user;
    const status = $("status");
    status.dataset.i18n = user ? "account.signedIn" : "account.notSignedIn";
    status.textContent = t(status.dataset.i18n);
    $("signin-form").hidden = Boolean(user);
    $("account").hidden = !user;
    $("signout-button").hidden = !user;
    if (user) {
      $("who").textContent = user.name;
      $("role").textContent = user.role;
    }
    this.onUser(user, info);
  }
}
