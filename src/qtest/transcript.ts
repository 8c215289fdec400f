/**
 * qtest transcripts: one protocol command a line, optionally a tab and the reply QEMU gave,
 * `#` comments and blank lines ignored. Replaying one answers every command and stops at the
 * first reply that differs from the recorded one.
 */
import type { QtestSession } from "./protocol.ts";

/** One command of a transcript. */
export interface TranscriptLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly command: string;
  /** The reply QEMU gave, when recorded. */
  readonly expected?: string;
}

/** Parses transcript text (linear in its length). */
export function parseTranscript(text: string): TranscriptLine[] {
  const out: TranscriptLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const tab = line.indexOf("\t");
    const command = (tab < 0 ? line : line.slice(0, tab)).trim();
    const expected = tab < 0 ? undefined : line.slice(tab + 1).trim();
    out.push({ line: i + 1, command, ...(expected === undefined ? {} : { expected }) });
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
  readonly replies: readonly { readonly line: TranscriptLine; readonly reply: string }[];
  readonly mismatch?: TranscriptMismatch;
  /** Set when the model ended the session the way QEMU would have died. */
  readonly aborted?: string;
}

/** Replays `lines` on `session`, stopping at the first differing reply. */
export function replayTranscript(
  session: QtestSession,
  lines: readonly TranscriptLine[],
): ReplayResult {
  const replies: { line: TranscriptLine; reply: string }[] = [];
  for (const l of lines) {
    const outcome = session.execute(l.command);
    const actual = "reply" in outcome ? outcome.reply : `QEMU aborts: ${outcome.abort}`;
    replies.push({ line: l, reply: actual });
    if (l.expected !== undefined && l.expected !== actual) {
      return {
        replies,
        mismatch: { line: l.line, command: l.command, expected: l.expected, actual },
        ...("abort" in outcome ? { aborted: outcome.abort } : {}),
      };
    }
    if ("abort" in outcome) return { replies, aborted: outcome.abort };
  }
  return { replies };
}
