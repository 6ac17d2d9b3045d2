// What the page remembers for one browser tab: tokens, the sign-in challenge in progress, the
// declaration, and the last search. sessionStorage, so closing the tab forgets it all.
const KEYS = { tokens: "mast.tokens", challenge: "mast.challenge", declaration: "mast.declaration", search: "mast.search", notice: "mast.notice", afterDeclaration: "mast.afterDeclaration" };

function read(key) {
  try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch { return null; }
}
function write(key, value) {
  if (value === null || value === undefined) sessionStorage.removeItem(key);
  else sessionStorage.setItem(key, JSON.stringify(value));
}

export const session = {
  get tokens() { return read(KEYS.tokens); },
  set tokens(value) { write(KEYS.tokens, value); },
  get challenge() { return read(KEYS.challenge); },
  set challenge(value) { write(KEYS.challenge, value); },
  get declaration() { return read(KEYS.declaration); },
  set declaration(value) { write(KEYS.declaration, value); },
  get search() { return read(KEYS.search); },
  /** Where to go once a declaration is made (opening an alert's person), instead of the search. */
  get afterDeclaration() { return read(KEYS.afterDeclaration); },
  set afterDeclaration(value) { write(KEYS.afterDeclaration, value); },
  set search(value) { write(KEYS.search, value); },
  /** A one-off message for the next page (e.g. "your session ended"), read once. */
  takeNotice() { const n = read(KEYS.notice); write(KEYS.notice, null); return n; },
  set notice(value) { write(KEYS.notice, value); },
  clear() { Object.values(KEYS).forEach((k) => { if (k !== KEYS.notice) sessionStorage.removeItem(k); }); },
};

function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(atob(payload).split("").map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch { return null; }
}

/** The signed-in user as the ID token says (for the page's navigation only: the API decides). */
export function currentUser() {
  const tokens = session.tokens;
  if (!tokens || !tokens.idToken) return null;
  const claims = claimsOf(tokens.idToken);
  if (!claims) return null;
  const groups = claims["cognito:groups"] || [];
  return {
    email: claims.email || claims["cognito:username"] || "",
    name: claims.name || claims.email || "",
    organisation: claims["custom:organisation"] || "",
    groups: Array.isArray(groups) ? groups : String(groups).split(","),
    expiresAt: (claims.exp || 0) * 1000,
  };
}

export function inGroup(user, ...groups) {
  return !!user && groups.some((g) => user.groups.includes(g));
}
