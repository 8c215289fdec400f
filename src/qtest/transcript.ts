/**
 * qtest transcripts: one protocol command a line, optionally a tab and the reply QEMU gave;
 * blank lines and `#` comments are ignored, except `# wait N ms`, which lets time pass (the
 * recorder sleeps that long in QEMU, where device timers run in real time; iova fires its
 * pending timers). Replaying answers every command and stops at the first reply that differs.
 */
import type { QtestSession } from "./protocol.ts";

/** One command of a transcript, or a wait. */
export type TranscriptLine =
  | {
      readonly kind: "command";
      /** 1-based line number in the file. */
      readonly line: number;
      readonly command: string;
      /** The reply QEMU gave, when recorded. */
      readonly expected?: string;
    }
  | { readonly kind: "wait"; readonly line: number; readonly ms: number };

const WAIT = /^#\s*wait\s+(\d{1,6})\s*ms\s*$/;

/** Parses transcript text (linear in its length). */
export function parseTranscript(text: string): TranscriptLine[] {
  const out: TranscriptLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    const trimmed = line.trim();
    const wait = WAIT.exec(trimmed);
    if (wait) {
      out.push({ kind: "wait", line: i + 1, ms: Number(wait[1]) });
      return;
    }
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const tab = line.indexOf("\t");
    const command = (tab < 0 ? line : line.slice(0, tab)).trim();
    const expected = tab < 0 ? undefined : line.slice(tab + 1).trim();
    out.push({
      kind: "command",
      line: i + 1,
      command,
      ...(expected === undefined ? {} : { expected }),
    });
  });
  return out;
}

/** The first command whose answer differs from the recording. */
export interface TranscriptMismatch {
  readonly line: number;
  readonly command: string;
  readonly expected: string;
  /** iova's reply, or `QEMU aborts: ...`. */
  readonly actual: string;
}

/** What a replay did. */
export interface ReplayResult {
  /** Every command with the reply iova gave (up to the mismatch or the abort). */
  readonly replies: readonly {
    readonly line: number;
    readonly command: string;
    readonly reply: string;
  }[];
  readonly mismatch?: TranscriptMismatch;
  /** Set when the model ended the session the way QEMU would have died. */
  readonly aborted?: string;
  /** Whether the transcript recorded that death (QEMU died there too). */
  readonly abortRecorded?: boolean;
}

/** Replays `lines` on `session`, stopping at the first differing reply. */
export function replayTranscript(
  session: QtestSession,
  lines: readonly TranscriptLine[],
): ReplayResult {
  const replies: { line: number; command: string; reply: string }[] = [];
  for (const l of lines) {
    // A death while time passes shows on the next command, as on the recorder's socket.
    if (l.kind === "wait") {
      session.passTime();
      continue;
    }
    const { command, expected } = l;
    const outcome = session.execute(command);
    const actual = "reply" in outcome ? outcome.reply : `QEMU aborts: ${outcome.abort}`;
    replies.push({ line: l.line, command, reply: actual });
    if (expected !== undefined && expected !== actual) {
      return {
        replies,
        mismatch: { line: l.line, command, expected, actual },
        ...("abort" in outcome ? { aborted: outcome.abort } : {}),
      };
    }
    if ("abort" in outcome) {
      return { replies, aborted: outcome.abort, abortRecorded: expected !== undefined };
    }
  }
  return { replies };
}
