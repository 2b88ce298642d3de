/** The two kinds of policy file, each with its JSON Schema in schema/<kind>.schema.json. */
export const SCHEMA_KINDS = ["autoscaler", "cloud"] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];
