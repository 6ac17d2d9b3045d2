// Sign-in with Cognito: email and password; on first sign-in a new password and TOTP MFA set-up
// (secret and QR code); afterwards the MFA code. Tokens go to sessionStorage only.
import qrcode from "../../dist/qrcode.mjs";
import { cognito, clientId, CognitoError } from "../cognito.js";
import { html, SafeHtml } from "../html.js";
import { session, currentUser } from "../session.js";
import { stopInactivityTimer } from "../timeout.js";
import { renderer, errorSummary, textInput, button, formValues, notification, SERVICE } from "../ui.js";

const PASSWORD_HINT = "At least 12 characters, with a capital letter, a small letter, a number and a symbol.";

function homeOf(user) {
  const groups = user ? user.groups : [];
  if (groups.includes("practitioners") || groups.includes("data-stewards")) return "declaration";
  if (groups.includes("org-admins")) return "users";
  if (groups.includes("auditors")) return "audit";
  return "sign-in";
}

/** Act on Cognito's answer: tokens, or the next challenge's page. */
async function proceed(result, username, navigate) {
  if (result.AuthenticationResult) {
    const auth = result.AuthenticationResult;
    session.tokens = {
      idToken: auth.IdToken, accessToken: auth.AccessToken, refreshToken: auth.RefreshToken || (session.tokens || {}).refreshToken,
      expiresAt: Date.now() + (auth.ExpiresIn || 3600) * 1000,
    };
    session.challenge = null;
    navigate(homeOf(currentUser()));
    return;
  }
  const pages = { NEW_PASSWORD_REQUIRED: "new-password", MFA_SETUP: "set-up-mfa", SOFTWARE_TOKEN_MFA: "mfa" };
  const page = pages[result.ChallengeName];
  if (!page) throw new CognitoError("UnsupportedChallenge", `MAST cannot complete the sign-in step ${result.ChallengeName}. Contact your administrator.`);
  session.challenge = { name: result.ChallengeName, session: result.Session, username };
  navigate(page);
}

function challengeOrRestart(name, navigate) {
  const challenge = session.challenge;
  if (!challenge || challenge.name !== name) {
    session.notice = "Start again: sign in with your email address and password.";
    navigate("sign-in");
    return null;
  }
  return challenge;
}

/** A Cognito refusal as an error-summary entry for the field it concerns. */
function cognitoErrors(error, field, fallbackNav) {
  const type = error instanceof CognitoError ? error.type : "";
  switch (type) {
    case "NotAuthorizedException":
      if (/session/i.test(error.message)) { fallbackNav?.(); return []; }
      if (/disabled/i.test(error.message)) return [{ field, text: "Your account has been disabled. Contact your organisation's MAST administrator." }];
      return [{ field, text: "Enter a correct email address and password" }];
    case "UserNotFoundException":
      return [{ field, text: "Enter a correct email address and password" }];
    case "PasswordResetRequiredException":
      return [{ field, text: "Your password must be reset. Contact your organisation's MAST administrator." }];
    case "InvalidPasswordException":
      return [{ field, text: `Choose a stronger password. ${PASSWORD_HINT}` }];
    case "CodeMismatchException":
    case "EnableSoftwareTokenMFAException":
      return [{ field, text: "The security code is not correct. Enter the 6-digit code your app shows now" }];
    case "ExpiredCodeException":
      return [{ field, text: "That security code has already been used. Wait for the next code and enter it" }];
    case "TooManyRequestsException":
    case "LimitExceededException":
      return [{ field, text: "Too many attempts. Wait a few minutes, then try again" }];
    default:
      return [{ field, text: error.message || "Sign-in failed. Try again" }];
  }
}

export async function signInPage({ navigate }) {
  const render = renderer();
  const notice = session.takeNotice();
  const show = (errors = [], values = {}) => {
    const main = render("Sign in", html`
      ${notice && !errors.length ? notification(notice) : ""}
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Sign in to ${SERVICE}</h1>
      <p class="govuk-body">MAST shows whether other agencies in the safeguarding partnership are involved with a person or an address.</p>
      <form novalidate id="sign-in-form">
        ${textInput({ id: "email", label: "Email address", type: "email", autocomplete: "username", spellcheck: false, value: values.email, errors, labelClass: "govuk-label govuk-label--s" })}
        ${textInput({ id: "password", label: "Password", type: "password", autocomplete: "current-password", errors, labelClass: "govuk-label govuk-label--s", classes: "govuk-!-width-two-thirds" })}
        ${button("Sign in")}
      </form>
      <p class="govuk-body">No account yet? <a class="govuk-link" href="#/request-access">Request access to MAST</a>.</p>`, { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(event.target);
      const errors = [];
      if (!values.email) errors.push({ field: "email", text: "Enter your email address" });
      else if (!/^[^@\s]+@[^@\s]+$/.test(values.email)) errors.push({ field: "email", text: "Enter an email address in the correct format, like name@example.org" });
      if (!values.password) errors.push({ field: "password", text: "Enter your password" });
      if (errors.length) { show(errors, values); return; }
      try {
        const result = await cognito("InitiateAuth", {
          AuthFlow: "USER_PASSWORD_AUTH", ClientId: await clientId(),
          AuthParameters: { USERNAME: values.email, PASSWORD: values.password },
        });
        await proceed(result, values.email, navigate);
      } catch (error) {
        show(cognitoErrors(error, "email"), values);
      }
    });
  };
  show();
}

export async function newPasswordPage({ navigate }) {
  const render = renderer();
  const challenge = challengeOrRestart("NEW_PASSWORD_REQUIRED", navigate);
  if (!challenge) return;
  const show = (errors = []) => {
    const main = render("Create a new password", html`
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Create a new password</h1>
      <p class="govuk-body">This is your first sign-in. Replace the temporary password you were sent with one only you know.</p>
      <form novalidate>
        ${textInput({ id: "new-password", label: "New password", hint: PASSWORD_HINT, type: "password", autocomplete: "new-password", errors, labelClass: "govuk-label govuk-label--s", classes: "govuk-!-width-two-thirds" })}
        ${textInput({ id: "confirm-password", label: "Confirm new password", type: "password", autocomplete: "new-password", errors, labelClass: "govuk-label govuk-label--s", classes: "govuk-!-width-two-thirds" })}
        ${button("Save password and continue")}
      </form>`, { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(event.target);
      const password = new FormData(event.target).get("new-password");
      const errors = [];
      if (!password) errors.push({ field: "new-password", text: "Enter a new password" });
      else if (password.length < 12 || !/[a-z]/.test(password) || !/[A-Z]/.test(password) || !/[0-9]/.test(password) || !/[^A-Za-z0-9]/.test(password)) {
        errors.push({ field: "new-password", text: `Choose a stronger password. ${PASSWORD_HINT}` });
      }
      if (password && new FormData(event.target).get("confirm-password") !== password) errors.push({ field: "confirm-password", text: "The passwords do not match. Enter the same password twice" });
      if (errors.length) { show(errors); return; }
      try {
        const result = await cognito("RespondToAuthChallenge", {
          ChallengeName: "NEW_PASSWORD_REQUIRED", ClientId: await clientId(), Session: challenge.session,
          ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: password },
        });
        await proceed(result, challenge.username, navigate);
      } catch (error) {
        show(cognitoErrors(error, "new-password", () => challengeOrRestart("", navigate)));
      }
      void values;
    });
  };
  show();
}

function qrSvg(uri) {
  const code = qrcode(0, "M");
  code.addData(uri);
  code.make();
  return new SafeHtml(code.createSvgTag({ cellSize: 4, margin: 4, scalable: true }));
}

export async function mfaSetupPage({ navigate }) {
  const render = renderer();
  const challenge = challengeOrRestart("MFA_SETUP", navigate);
  if (!challenge) return;
  if (!challenge.secret) {
    try {
      const associated = await cognito("AssociateSoftwareToken", { Session: challenge.session });
      challenge.secret = String(associated.SecretCode).toUpperCase();  // base32's canonical case
      challenge.session = associated.Session || challenge.session;
      session.challenge = challenge;
    } catch (error) {
      session.notice = "Setting up your security code did not work. Sign in again to start again.";
      session.challenge = null;
      navigate("sign-in");
      return;
    }
  }
  const uri = `otpauth://totp/${encodeURIComponent(SERVICE)}:${encodeURIComponent(challenge.username)}?secret=${challenge.secret}&issuer=${encodeURIComponent(SERVICE)}`;
  const grouped = challenge.secret.replace(/(.{4})/g, "$1 ").trim();
  const show = (errors = []) => {
    const main = render("Set up your authenticator app", html`
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Set up your authenticator app</h1>
      <p class="govuk-body">Each time you sign in, MAST asks for a 6-digit security code from an authenticator app on your phone or computer.</p>
      <ol class="govuk-list govuk-list--number">
        <li>Open your authenticator app, for example Microsoft Authenticator or Google Authenticator, and choose to add an account.</li>
        <li>Scan this QR code, or enter the secret key below.</li>
        <li>Enter the 6-digit code the app shows for MAST.</li>
      </ol>
      <figure class="mast-qr" aria-labelledby="qr-caption">${qrSvg(uri)}
        <figcaption class="govuk-visually-hidden" id="qr-caption">QR code holding the secret key below</figcaption>
      </figure>
      <h2 class="govuk-heading-s">Secret key</h2>
      <p class="govuk-body mast-secret" id="mfa-secret" data-secret="${challenge.secret}">${grouped}</p>
      <form novalidate>
        ${textInput({ id: "code", label: "Security code from your app", hint: "For example, 123456", autocomplete: "one-time-code", inputmode: "numeric", spellcheck: false, errors, classes: "govuk-input--width-10", labelClass: "govuk-label govuk-label--s" })}
        ${button("Continue")}
      </form>`, { errors });
    const svg = main.querySelector(".mast-qr svg");
    if (svg) { svg.setAttribute("role", "img"); svg.setAttribute("aria-label", "QR code for your authenticator app"); }
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = String(formValues(event.target).code || "").replace(/\s+/g, "");
      if (!/^\d{6}$/.test(code)) { show([{ field: "code", text: code ? "Enter the security code as 6 digits" : "Enter the security code from your app" }]); return; }
      try {
        const verified = await cognito("VerifySoftwareToken", { Session: challenge.session, UserCode: code, FriendlyDeviceName: "MAST" });
        challenge.session = verified.Session || challenge.session;
        session.challenge = challenge;
        const result = await cognito("RespondToAuthChallenge", {
          ChallengeName: "MFA_SETUP", ClientId: await clientId(), Session: challenge.session,
          ChallengeResponses: { USERNAME: challenge.username },
        });
        if (result.AuthenticationResult) {
          await cognito("SetUserMFAPreference", {
            AccessToken: result.AuthenticationResult.AccessToken,
            SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true },
          }).catch(() => {});
        }
        await proceed(result, challenge.username, navigate);
      } catch (error) {
        show(cognitoErrors(error, "code", () => challengeOrRestart("", navigate)));
      }
    });
  };
  show();
}

export async function mfaCodePage({ navigate }) {
  const render = renderer();
  const challenge = challengeOrRestart("SOFTWARE_TOKEN_MFA", navigate);
  if (!challenge) return;
  const show = (errors = []) => {
    const main = render("Enter your security code", html`
      ${errorSummary(errors)}
      <form novalidate>
        ${textInput({ id: "code", label: "Enter the security code from your authenticator app", heading: true, hint: "The 6-digit code your app shows for MAST, for example 123456", autocomplete: "one-time-code", inputmode: "numeric", spellcheck: false, errors, classes: "govuk-input--width-10" })}
        ${button("Continue")}
      </form>
      <p class="govuk-body"><a class="govuk-link" href="#/sign-in">Sign in again</a></p>`, { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = String(formValues(event.target).code || "").replace(/\s+/g, "");
      if (!/^\d{6}$/.test(code)) { show([{ field: "code", text: code ? "Enter the security code as 6 digits" : "Enter the security code from your app" }]); return; }
      try {
        const result = await cognito("RespondToAuthChallenge", {
          ChallengeName: "SOFTWARE_TOKEN_MFA", ClientId: await clientId(), Session: challenge.session,
          ChallengeResponses: { USERNAME: challenge.username, SOFTWARE_TOKEN_MFA_CODE: code },
        });
        await proceed(result, challenge.username, navigate);
      } catch (error) {
        show(cognitoErrors(error, "code", () => {
          session.challenge = null;
          session.notice = "Your sign-in took too long. Sign in again.";
          navigate("sign-in");
        }));
      }
    });
  };
  show();
}

export async function signOut({ navigate }) {
  const tokens = session.tokens;
  stopInactivityTimer();
  session.clear();
  if (tokens && tokens.accessToken) {
    await cognito("GlobalSignOut", { AccessToken: tokens.accessToken }).catch(() => {});
  }
  navigate("signed-out");
}

export async function signedOutPage({ query }) {
  const render = renderer();
  const inactive = query.get("reason") === "inactive";
  render(inactive ? "You have been signed out" : "You have signed out", html`
    <h1 class="govuk-heading-l">${inactive ? "For your security, we signed you out" : "You have signed out"}</h1>
    ${inactive ? html`<p class="govuk-body">You were signed out because you had not used MAST for 15 minutes. Anything you had not submitted has been lost.</p>` : ""}
    <p class="govuk-body"><a class="govuk-link" href="#/sign-in">Sign in</a></p>`);
}
