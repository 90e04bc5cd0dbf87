// Structurally identical to storage's JsonValue/JsonObject, defined here so the core imports nothing outside itself.
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };
