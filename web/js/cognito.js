// Cognito's own JSON API, called from the browser unsigned, as the AWS SDK's user-pool calls are:
// InitiateAuth, RespondToAuthChallenge, AssociateSoftwareToken, VerifySoftwareToken.
import { config } from "./config.js";

export class CognitoError extends Error {
  constructor(type, message) { super(message); this.type = type; }
}

export async function cognito(target, payload) {
  const { cognitoEndpoint } = await config();
  let response;
  try {
    response = await fetch(cognitoEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}` },
      body: JSON.stringify(payload),
    });
  } catch {
    throw new CognitoError("NetworkError", "MAST could not reach the sign-in service. Try again.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const type = String(body.__type || "UnknownError").split("#").pop();
    throw new CognitoError(type, body.message || body.Message || type);
  }
  return body;
}

export async function clientId() {
  return (await config()).userPoolClientId;
}
