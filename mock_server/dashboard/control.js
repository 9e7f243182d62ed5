// The control plane's client: JSON in and out, the control token when the mock wants one.
// The token is asked once and kept for the tab (sessionStorage), sent as a Bearer header.
import { $ } from "./render.js";

const TOKEN_KEY = "exomock-control-token";

let tokenWanted = null;

export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = "Bearer " + token;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    await askForToken(token ? "That token was refused." : "");
    return api(method, path, body);
  }
  let answer = null;
  try { answer = await response.json(); } catch (_) { answer = null; }
  if (!response.ok) {
    const message = answer && typeof answer.error === "string" ? answer.error : "HTTP " + response.status;
    throw new Error(message);
  }
  return answer;
}

// Nothing on the page works without the token: Escape leaves the question open.
$("#token-dialog").addEventListener("cancel", (event) => event.preventDefault());

function askForToken(problem) {
  // Every request waiting for a token waits for the same answer.
  if (tokenWanted) return tokenWanted;
  const dialog = $("#token-dialog");
  $("#token-error").textContent = problem;
  tokenWanted = new Promise((resolve) => {
    $("#token-form").onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("#token-input").value.trim());
      dialog.close();
      tokenWanted = null;
      resolve();
    };
  });
  if (!dialog.open) dialog.showModal();
  $("#token-input").focus();
  return tokenWanted;
}
