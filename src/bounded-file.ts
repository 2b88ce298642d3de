/**
 * Reading a file that someone else may have put there: never waiting (a named pipe would block
 * an ordinary read until a writer comes, for ever), regular files only, and at most `maxBytes`.
 * Used for every file the daemon reads: policy files and templates, its state file, a pilot's
 * shutdown_message (where links are refused too: the job wrote it).
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Why a file was not read: its content is never part of the reason. */
export class UnreadableFile extends Error {
  override readonly name = "UnreadableFile";
  constructor(
    readonly reason: "missing" | "not a regular file" | "too large" | "unreadable",
    message: string,
  ) {
    super(message);
  }
}

export interface BoundedRead {
  maxBytes: number;
  /** Refuse a symbolic link as the last component (files a job could have written). */
  noFollow?: boolean;
  /** Read the first maxBytes of a larger file instead of refusing it. */
  truncate?: boolean;
}

export async function readBoundedFile(path: string, options: BoundedRead): Promise<string> {
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UnreadableFile("missing", "file not found");
    if (code === "ELOOP") throw new UnreadableFile("not a regular file", "a symbolic link");
    throw new UnreadableFile("unreadable", `cannot be read (${code ?? String(error)})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new UnreadableFile("not a regular file", "not a regular file (a pipe, a device?)");
    if (info.size > options.maxBytes && options.truncate !== true)
      throw new UnreadableFile("too large", `larger than ${options.maxBytes} bytes`);
    const buffer = Buffer.alloc(Math.min(info.size, options.maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}
