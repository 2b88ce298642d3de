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

const UNITS = [
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
] as const;

/** A duration to two units at most, the larger first, for tables: `45s`, `3m20s`, `2h5m`, `1d3h`. */
export function shortDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "-";
  const total = Math.max(0, Math.round(seconds));
  const first = UNITS.findIndex(([, size]) => total >= size);
  const big = UNITS[first];
  if (big === undefined) return "0s";
  const next = UNITS[first + 1];
  const amount = Math.floor(total / big[1]);
  const rest = next === undefined ? 0 : Math.floor((total % big[1]) / next[1]);
  return `${amount}${big[0]}${next === undefined || rest === 0 ? "" : `${rest}${next[0]}`}`;
}

/**
 * The longest duration a policy file may give: Node's timers cannot wait 2^31 ms (about 24.8
 * days) or more, and a longer timeout fires at once instead (a tick deadline of 25d abandoned
 * every tick). 20 days is far beyond any timeout a pool needs.
 */
export const MAX_DURATION = 20 * 86400;

/** Schema of a duration field; the parsed value is seconds. */
export const duration = z
  .union([
    z.number().nonnegative(),
    z.string().regex(DURATION_PATTERN, "a duration such as 90s, 10m, 2h or 1h30m"),
  ])
  .transform((value) => (typeof value === "number" ? value : (parseDuration(value) ?? 0)))
  .refine((seconds) => seconds <= MAX_DURATION, "at most 20d (longer cannot be timed)")
  .meta({ description: "Seconds, or a duration such as 90s, 10m, 2h, 1h30m (at most 20d)" });

/** A duration, or `auto`: the adaptive default (src/policy/adaptive.ts) decides it. */
export const autoDuration = z
  .union([
    z.number().nonnegative(),
    z
      .string()
      .regex(
        new RegExp(`^auto$|${DURATION_PATTERN.source}`),
        "auto, or a duration such as 90s, 10m, 2h or 1h30m",
      ),
  ])
  .transform((value): number | "auto" =>
    value === "auto" ? "auto" : typeof value === "number" ? value : (parseDuration(value) ?? 0),
  )
  .refine(
    (seconds) => seconds === "auto" || seconds <= MAX_DURATION,
    "at most 20d (longer cannot be timed)",
  )
  .meta({
    description:
      "auto (adaptive), or seconds, or a duration such as 90s, 10m, 2h, 1h30m (at most 20d)",
  });
