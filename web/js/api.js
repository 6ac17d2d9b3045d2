// MAST's API: every call carries the ID token; a 401 ends the session and returns to sign-in.
import { config } from "./config.js";
import { cognito, clientId } from "./cognito.js";
import { session } from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the request failed (${status})`);
    this.status = status;
    this.body = body || {};
  }
  /** The API's field errors ({field, message}) as the page's error-summary entries. */
  fieldErrors(fieldMap = {}) {
    const errors = Array.isArray(this.body.errors) ? this.body.errors : [];
    return errors.map((e) => {
      const path = String(e.field || "");
      const key = Object.keys(fieldMap).find((k) => path === k || path.endsWith("." + k) || path.startsWith(k + "."));
      return { field: key ? fieldMap[key] : undefined, text: e.message ? `${e.message}${key ? "" : ` (${path})`}` : path };
    });
  }
}

export class SignedOut extends Error {}

let onSignedOut = () => {};
export function whenSignedOut(callback) { onSignedOut = callback; }

async function freshIdToken() {
  const tokens = session.tokens;
  if (!tokens) return null;
  if (tokens.expiresAt - Date.now() > 60_000 || !tokens.refreshToken) return tokens.idToken;
  try {
    const result = await cognito("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: await clientId(),
      AuthParameters: { REFRESH_TOKEN: tokens.refreshToken },
    });
    const auth = result.AuthenticationResult;
    session.tokens = { ...tokens, idToken: auth.IdToken, accessToken: auth.AccessToken, expiresAt: Date.now() + auth.ExpiresIn * 1000 };
    return auth.IdToken;
  } catch {
    return tokens.idToken;
  }
}

export async function api(method, path, { body, query, anonymous = false, accept } = {}) {
  const { apiUrl } = await config();
  const headers = { Accept: accept || "application/json" };
  if (!anonymous) {
    const token = await freshIdToken();
    if (!token) { onSignedOut(); throw new SignedOut(); }
    headers.Authorization = token;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const search = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
  let response;
  try {
    response = await fetch(`${apiUrl}${path}${search}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { message: "MAST could not be reached. Check your connection and try again." });
  }
  // A non-JSON answer asked for (accept: "text/csv"): its text and headers, errors still JSON.
  if (accept && response.ok && response.status !== 401) {
    return { text: await response.text(), headers: response.headers };
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && !anonymous) { onSignedOut(); throw new SignedOut(); }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
