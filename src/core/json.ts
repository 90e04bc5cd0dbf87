// JSON data as JSON.parse makes it: the payload of an event is a JsonObject. The one definition (storage
// re-exports it).
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };
