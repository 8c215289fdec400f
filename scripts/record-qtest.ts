/**
 * Records qtest transcripts on a real QEMU 7.2: for each case `NAME.qtest` in the directory (with
 * its machine in `NAME.cmdline`, QEMU's options without the binary), run the commands on
 * `qemu-system-x86_64` under TCG with a halting firmware and rewrite the file with QEMU's reply
 * after a tab on every command line. `# wait N ms` lines sleep (device timers run in real time).
 * If QEMU dies, the command that met the closed socket gets `QEMU aborts: <its message>` and the
 * transcript ends there; otherwise QEMU's `info mtree -D` and `info mtree -f` after the last
 * command are saved beside it (`NAME.mtree-D.txt`, `NAME.mtree-f.txt`).
 *
 *   node --import tsx scripts/record-qtest.ts [--qemu-10] [DIR] [NAME...]
 *
 * DIR defaults to test/conformance/qtest. With --qemu-10 the binary is QEMU 10.0 from
 * scripts/install-qemu-10.sh's tree and DIR defaults to test/conformance/qtest-10.0; a case
 * missing there is first copied from test/conformance/qtest (its .cmdline, and its .qtest with
 * the 7.2 replies left off), so both releases answer the same commands.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startQtestQemu } from "../src/qemu/qtest-client.ts";
import { splitCommandLine } from "../src/qtest/cmdline.ts";

const WAIT = /^#\s*wait\s+(\d{1,6})\s*ms\s*$/;

/** QEMU's last words: the first `qemu...:` line that is not a warning or GLib noise. */
function deathMessage(output: string): string {
  const lines = output.split("\n").map((l) => l.trim());
  const hw = lines.find((l) => l.startsWith("qemu: hardware error:"));
  if (hw) return hw.replace(/^qemu: /, "");
  const other = lines.find(
    (l) => /^qemu(-system-\w+)?: /.test(l) && !/GLib|warning/.test(l) && /assert|abort/i.test(l),
  );
  return other ?? "QEMU died";
}

async function recordCase(dir: string, name: string, release: "7.2" | "10.0"): Promise<void> {
  const args = splitCommandLine(readFileSync(join(dir, `${name}.cmdline`), "utf8"));
  const source = readFileSync(join(dir, `${name}.qtest`), "utf8").split("\n");
  const qemu = await startQtestQemu("qemu-system-x86_64", args, { qmp: true, release });
  const out: string[] = [];
  let died = false;
  try {
    for (const raw of source) {
      const line = raw.replace(/\r$/, "");
      const trimmed = line.trim();
      const wait = WAIT.exec(trimmed);
      if (wait) await new Promise((r) => setTimeout(r, Number(wait[1])));
      if (trimmed === "" || trimmed.startsWith("#")) {
        out.push(line);
        continue;
      }
      const command = line.split("\t")[0].trim();
      let reply: string;
      try {
        reply = await qemu.command(command);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        out.push(`${command}\tQEMU aborts: ${deathMessage(qemu.output())}`);
        died = true;
        break;
      }
      out.push(`${command}\t${reply}`);
    }
    for (const [flags, file] of [
      ["-D", "mtree-D.txt"],
      ["-f", "mtree-f.txt"],
    ] as const) {
      const path = join(dir, `${name}.${file}`);
      if (died) rmSync(path, { force: true });
      else writeFileSync(path, await qemu.qmp!.hmp(`info mtree ${flags}`));
    }
  } finally {
    await qemu.stop();
  }
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  writeFileSync(join(dir, `${name}.qtest`), `${out.join("\n")}\n`);
  process.stdout.write(`recorded ${name}\n`);
}

const argv = process.argv.slice(2);
const release = argv[0] === "--qemu-10" ? "10.0" : "7.2";
if (release === "10.0") argv.shift();
const [dirArg, ...names] = argv;
const conformance = join(import.meta.dirname, "..", "test", "conformance");
const dir = dirArg ?? join(conformance, release === "10.0" ? "qtest-10.0" : "qtest");
if (release === "10.0") {
  // Seed the 10.0 directory with the 7.2 cases' machines and commands (replies dropped).
  const source = join(conformance, "qtest");
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(source).filter((f) => f.endsWith(".qtest"))) {
    const name = f.slice(0, -".qtest".length);
    if (names.length > 0 && !names.includes(name)) continue;
    if (existsSync(join(dir, f))) continue;
    writeFileSync(join(dir, `${name}.cmdline`), readFileSync(join(source, `${name}.cmdline`)));
    const commands = readFileSync(join(source, f), "utf8")
      .split("\n")
      .map((l) => (l.trim().startsWith("#") ? l : l.split("\t")[0]));
    writeFileSync(join(dir, f), commands.join("\n"));
  }
}
const all = readdirSync(dir)
  .filter((f) => f.endsWith(".qtest"))
  .map((f) => f.slice(0, -".qtest".length));
for (const name of names.length > 0 ? names : all) await recordCase(dir, name, release);
