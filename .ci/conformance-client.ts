// A small client over the types openapi-typescript generates from openapi/openapi.json,
// compiled with `tsc --strict` by .ci/conformance: what a phone app written in TypeScript
// would do with the document.
import type { components, operations, paths } from "./api";

type Schemas = components["schemas"];
type Change = Schemas["Change"];
type PushResponse = Schemas["PushResponse"];

// The pull feed: a tombstone has no body.
export function bodyOf(change: Change): Schemas["Class"] | Schemas["Trainee"] | unknown | null {
  if (change.deleted) {
    return change.body ?? null;
  }
  return change.body;
}

// The push: per-operation results.
export function applied(r: PushResponse): number {
  return r.results.filter((x) => x.status === "applied").length;
}

// An operation's 200 body and its path.
type Me = operations["get_me"]["responses"][200]["content"]["application/json"];
export function nameOf(me: Me): string {
  return me.full_name;
}

export type ClassPath = paths["/api/v1/classes/{id}"];
export type Problem = Schemas["Problem"];
export function codeOf(p: Problem): string {
  return p.code;
}

// A pushed operation: a new session names its class; a tombstone's body is null.
type Operation = Schemas["Operation"];
export const newSession: Operation = {
  op_id: "c0a80101-0000-4000-8000-000000000001",
  type: "class_session",
  action: "upsert",
  id: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
  body: { class_id: "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", held_on: "2026-12-02", duration_minutes: 90 },
};
export const deletion: Operation = { op_id: "c0a80101-0000-4000-8000-000000000002", type: "trainee", action: "delete", id: "x", base_version: 3, body: null };
export const tombstone: Change = { seq: 7, type: "trainee", id: "x", version: 4, deleted: true, removed: false, body: null };

// A breakdown cell's key names dimensions.
export function genderOf(cell: Schemas["BreakdownCell"]): string | undefined {
  return cell.key.gender;
}

// The operation's `type` tells which bodies it takes.
export function classOfNewSession(op: Operation): string | undefined {
  if (op.type === "class_session" && op.body && "class_id" in op.body) {
    return op.body.class_id;
  }
  return undefined;
}
