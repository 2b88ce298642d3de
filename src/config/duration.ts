/** Durations in policy files: `90s`, `10m`, `2h`, `1h30m`, `1d`, or a plain number of seconds. */
import { z } from "zod";

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?[smhd])+$/;
const PART_PATTERN = /(\d+(?:\.\d+)?)([smhd])/g;

/** Seconds in a duration text, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const compact = text.trim();
  if (!DURATION_PATTERN.test(compact)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of compact.matchAll(PART_PATTERN)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit ?? "s"] ?? 1);
  }
  return seconds;
}

/** Renders seconds the way a person writes them: `90s`, `10m`, `1h30m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  let rest = Math.max(0, Math.round(seconds));
  if (rest === 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      parts.push(`${amount}${unit}`);
      rest -= amount * size;
    }
  }
  return parts.join("");
}

/** Schema of a duration field; the parsed value is seconds. */
export const duration = z
  .union([
    z.number().nonnegative(),
    z.string().regex(DURATION_PATTERN, "a duration such as 90s, 10m, 2h or 1h30m"),
  ])
  .transform((value) => (typeof value === "number" ? value : (parseDuration(value) ?? 0)))
  .meta({ description: "Seconds, or a duration such as 90s, 10m, 2h, 1h30m" });
