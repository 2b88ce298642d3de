/**
 * The secret values this process holds, registered where they are read (the worker token, cloud
 * passwords and keys): every text the daemon stores or shows is scrubbed of them. Structural, not
 * by pattern: it catches a secret an upstream echoes in a form no pattern knows.
 */

export const REDACTED = "[REDACTED]";

/**
 * Secret values the configuration holds (the worker token, cloud passwords and keys), with their
 * base64 forms: masked wherever they appear, whatever surrounds them (an upstream that echoes a
 * request, a tool that prints its input).
 */
const knownSecrets = new Set<string>();

/** Shorter values are too likely to match ordinary text. */
const MIN_SECRET_LENGTH = 8;

/** Masks `value` (and its base64 at each of the three alignments) in every text from now on. */
export function registerSecret(value: string | undefined): void {
  const secret = value?.trim();
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) return;
  knownSecrets.add(secret);
  for (let pad = 0; pad < 3; pad += 1) {
    // The part of the encoding that depends on the secret alone, whatever precedes it.
    const encoded = Buffer.from(`${"\0".repeat(pad)}${secret}`).toString("base64");
    const stable = encoded.slice(Math.ceil((pad * 4) / 3) + 1, -4);
    if (stable.length >= MIN_SECRET_LENGTH) knownSecrets.add(stable);
  }
}

export function maskKnownSecrets(text: string): string {
  let masked = text;
  for (const secret of knownSecrets)
    if (masked.includes(secret)) masked = masked.split(secret).join(REDACTED);
  return masked;
}
