// Sign-in: with an API key, or with the one-time link's token, which arrives in the URL fragment
// (fragments never reach the server, its logs, or a Referer header).
import { ApiError, me, realtimeToken, signIn, signOut } from "./api.js";

const $ = (id) => document.getElementById(id);

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  let text = error.message;
  if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
    text = `${error.message} (try again in ${error.retryAfter} s)`;
  }
  box.textContent = text;
  box.hidden = false;
}

function showUser(data) {
  $("status").textContent = data ? "Signed in." : "Not signed in.";
  $("signin-form").hidden = Boolean(data);
  $("signed-in").hidden = !data;
  if (data) {
    $("who").textContent = data.user.name;
    $("role").textContent = data.user.role;
  }
}

async function refresh() {
  try {
    showUser(await me());
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showUser(null);
    else showError(error);
  }
}

async function useLinkFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const link = params.get("link");
  if (!link) return;
  history.replaceState(null, "", "/");
  try {
    showUser(await signIn({ link }));
  } catch (error) {
    showError(error);
  }
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  try {
    showUser(await signIn({ key: $("key").value.trim() }));
    $("key").value = "";
  } catch (error) {
    showError(error);
  }
});

$("signout-button").addEventListener("click", async () => {
  showError(null);
  await signOut().catch(showError);
  $("token-output").textContent = "";
  showUser(null);
});

$("token-button").addEventListener("click", async () => {
  showError(null);
  try {
    const token = await realtimeToken();
    const expires = new Date(token.expires_at * 1000).toLocaleTimeString();
    $("token-output").textContent = `Token for ${token.session.model}, valid until ${expires}.\nCalls URL: ${token.calls_url}`;
  } catch (error) {
    showError(error);
  }
});

await useLinkFromFragment();
await refresh();
