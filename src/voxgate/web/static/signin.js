// Sign-in with an API key or a one-time link, sign-out, and who is signed in. The link's token arrives
// in the URL fragment (#link=…): fragments never reach the server, its logs, or a Referer header.
import { ApiError, me, signIn, signOut } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

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

  async start() {
    if (await this.useLink()) return;
    try {
      const info = await me();
      this.show(info.user, info);
    } catch (error) {
      this.show(null);
      if (!(error instanceof ApiError && error.status === 401)) this.onError(error);
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
      else this.onError(error);
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
