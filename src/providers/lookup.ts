/**
 * The entry a translation table holds for a word a cloud sent (a state, a status, an error code):
 * own keys only, so "constructor" or "__proto__" find nothing rather than Object's members.
 */
export function lookup<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
