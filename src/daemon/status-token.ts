/**
 * The status endpoint's bearer token: read from `status.tokenFile`, registered as a secret (so no
 * error text can carry it), and compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { readBoundedFile } from "../bounded-file.js";
import { MAX_CONFIG_FILE_BYTES } from "../config/defaults.js";
import { registerSecret } from "../secrets.js";

/** Shorter than this is guessable by a scraper on the network. */
export const MIN_STATUS_TOKEN_LENGTH = 16;

/** The token in a file (surrounding whitespace ignored); throws naming the file when unusable. */
export async function readStatusToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readBoundedFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES })).trim();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`status.tokenFile ${file}: ${why}`, { cause: error });
  }
  if (token.length < MIN_STATUS_TOKEN_LENGTH || /\s/.test(token))
    throw new Error(
      `status.tokenFile ${file}: the token must be one word of at least ${MIN_STATUS_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`,
    );
  registerSecret(token);
  return token;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether a request carries `Authorization: Bearer <token>`. */
export function carriesToken(request: IncomingMessage, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
  // Digests have one length whatever was sent, so the comparison tells nothing of the token.
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}
