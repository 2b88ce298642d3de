/**
 * Vac's shutdown_message: the pilot's last word, "NNN text" in joboutputs/shutdown_message. The
 * codes are the Vacuum Platform's: 100 shutdown as requested and 200 success are normal ends;
 * 300 (no more work) up to 699 say the host or the work has nothing for us now, which the policy
 * treats like a `capacity` answer; 700-799 (a transient problem of the pilot, e.g. its HTCondor
 * failed) like a `transient` one. Either way the cloud backs off, so a pilot that fails at start
 * cannot make the daemon start container after container.
 */
import { readBoundedFile } from "../../bounded-file.js";
import type { ErrorKind } from "../../model/errors.js";
import type { InstanceFault } from "../../model/snapshot.js";

export interface ShutdownMessage {
  code: number;
  text: string;
}

/** A shutdown_message is one short line; anything past this is not read. */
export const SHUTDOWN_MESSAGE_MAX_BYTES = 4096;

/**
 * Reads the shutdown_message a pilot left, as the hostile file it may be: the job wrote it. Not a
 * link (O_NOFOLLOW: a link to /dev/zero or /etc/shadow is refused), never waiting (O_NONBLOCK: a
 * named pipe cannot freeze the daemon), a regular file only, and at most
 * SHUTDOWN_MESSAGE_MAX_BYTES of it. Undefined when there is none or it is not a plain file.
 */
export async function readShutdownMessage(path: string): Promise<ShutdownMessage | undefined> {
  try {
    return parseShutdownMessage(
      await readBoundedFile(path, {
        maxBytes: SHUTDOWN_MESSAGE_MAX_BYTES,
        noFollow: true,
        truncate: true,
      }),
    );
  } catch {
    return undefined; // none left (killed, never started), or not a plain file
  }
}

export function parseShutdownMessage(content: string): ShutdownMessage | undefined {
  const line = content.split(/\r?\n/, 1)[0]?.trim() ?? "";
  const match = /^(\d{3})(?:\s+(.*))?$/.exec(line);
  if (match === null) return undefined;
  return { code: Number(match[1]), text: match[2]?.trim() ?? "" };
}

/** The kind of answer a code stands for, when it makes the cloud back off. */
export function backoffKind(message: ShutdownMessage): ErrorKind | undefined {
  if (message.code >= 300 && message.code <= 699) return "capacity";
  if (message.code >= 700 && message.code <= 799) return "transient";
  return undefined;
}

/** The fault an exited container reports: its shutdown_message when it left one, else its exit code. */
export function exitFault(
  exitCode: number | undefined,
  message: ShutdownMessage | undefined,
): InstanceFault {
  const exit = exitCode === undefined ? "exited" : `exited with code ${exitCode}`;
  if (message === undefined) return { message: exit };
  const said = `${exit}; shutdown_message ${message.code}${message.text === "" ? "" : ` ${message.text}`}`;
  const kind = backoffKind(message);
  return kind === undefined ? { message: said } : { message: said, kind };
}
