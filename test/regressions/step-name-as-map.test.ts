/**
 * `- hcall: { name: ..., ... }` (the call written as a map, not a name) once crashed the loader
 * with a TypeError (exit 70): it is refused at its line, saying it got a map.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";

test("an hcall or ioctl step whose name is a map or a list is refused at its line, not a crash", () => {
  for (const [value, got] of [
    ["{ name: H_PUT_TCE }", "a map"],
    ["[H_PUT_TCE]", "a list"],
  ]) {
    for (const kind of ["hcall", "ioctl"]) {
      assert.throws(
        () =>
          loadScenario(
            `name: s\nmachine: { memory: 1G }\nsteps:\n  - ${kind}: ${value}\n`,
            "s.yaml",
          ),
        (e: unknown) =>
          e instanceof ScenarioError &&
          e.message.startsWith("s.yaml:4:") &&
          e.message.endsWith(`got ${got}`),
        `${kind}: ${value}`,
      );
    }
  }
});
