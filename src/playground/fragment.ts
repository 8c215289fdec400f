/**
 * The playground's state as a URL fragment: JSON, compressed with deflate-raw (the platform's
 * CompressionStream, in browsers and Node alike) and written in base64url after `#v1=`. Reading one
 * back checks every field and caps the inflated size, so a hostile link cannot exhaust memory.
 */

/** Which input the playground shows. */
export type PlayMode = "scenario" | "mtree" | "trace";

/** Everything a link restores. */
export interface PlayState {
  readonly mode: PlayMode;
  /** The scenario's text and its name (an example's file name, or what the user called it). */
  readonly scenario: { readonly name: string; readonly text: string };
  readonly behaviour: "" | "qemu-7.2" | "qemu-2016-prefix";
  readonly mtree: { readonly tree: string; readonly flat: string };
  /** The log, the command line, and what to assume where the log is silent (`--assume`). */
  readonly trace: {
    readonly log: string;
    readonly commandLine: string;
    readonly assume: "none" | "linear";
  };
}

const PREFIX = "#v1=";
/** Most bytes a fragment may inflate to (the inputs a page holds comfortably). */
export const MAX_STATE_BYTES = 16 << 20;

/** Why a fragment could not be read. */
export class FragmentError extends Error {
  override name = "FragmentError";
}

async function pipe(bytes: Uint8Array, stream: GenericTransformStream, cap: number) {
  const writer = stream.writable.getWriter();
  // Written without waiting: the reader below drains the other side as it fills.
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const reader = (stream.readable as ReadableStream<Uint8Array>).getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > cap) {
      await reader.cancel();
      throw new FragmentError(`the state inflates past ${cap} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new FragmentError("expected base64url after #v1=");
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** The state as a fragment (`#v1=…`). */
export async function encodeState(state: PlayState): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return PREFIX + toBase64Url(await pipe(json, new CompressionStream("deflate-raw"), Infinity));
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== "string") throw new FragmentError(`expected ${what} to be text`);
  return v;
};
const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new FragmentError(`expected ${what} to be an object`);
  return v as Record<string, unknown>;
};

/** The state a fragment holds; a FragmentError says what is wrong with it. */
export async function decodeState(fragment: string): Promise<PlayState> {
  if (!fragment.startsWith(PREFIX)) throw new FragmentError("expected the fragment to start #v1=");
  let json: string;
  try {
    const bytes = await pipe(
      fromBase64Url(fragment.slice(PREFIX.length)),
      new DecompressionStream("deflate-raw"),
      MAX_STATE_BYTES,
    );
    json = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    if (e instanceof FragmentError) throw e;
    throw new FragmentError(`the state does not inflate (${e instanceof Error ? e.message : e})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new FragmentError("the state is not JSON");
  }
  const top = obj(value, "the state");
  const mode = top.mode;
  if (mode !== "scenario" && mode !== "mtree" && mode !== "trace")
    throw new FragmentError("expected mode scenario, mtree or trace");
  const behaviour = top.behaviour ?? "";
  if (behaviour !== "" && behaviour !== "qemu-7.2" && behaviour !== "qemu-2016-prefix")
    throw new FragmentError("expected behaviour qemu-7.2 or qemu-2016-prefix");
  const scenario = obj(top.scenario, "scenario");
  const mtree = obj(top.mtree, "mtree");
  const trace = obj(top.trace, "trace");
  const assume = trace.assume ?? "none";
  if (assume !== "none" && assume !== "linear")
    throw new FragmentError("expected trace.assume none or linear");
  return {
    mode,
    behaviour,
    scenario: {
      name: str(scenario.name, "scenario.name"),
      text: str(scenario.text, "scenario.text"),
    },
    mtree: { tree: str(mtree.tree, "mtree.tree"), flat: str(mtree.flat, "mtree.flat") },
    trace: {
      log: str(trace.log, "trace.log"),
      commandLine: str(trace.commandLine, "trace.commandLine"),
      assume,
    },
  };
}
