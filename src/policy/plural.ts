/** `1 job`, `2 jobs`: log lines read as sentences. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
