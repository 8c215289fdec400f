/**
 * The scenario code of a fuzz campaign as one bundle (esbuild, with its dependencies): a worker
 * starts without this process's module hooks, and compiling the TypeScript module graph in every
 * thread took longer than a short campaign, so the workers and the campaign's own thread load
 * this. Bundling takes about 0.4 s, so the bundle is kept in the temporary directory under the
 * hash of every file it was built from, with the list of those files: a campaign hashes them
 * again (a few ms) and rebuilds only when one changed or is gone.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("./worker.ts", import.meta.url));
/** One cache per checkout, so that two checkouts do not rebuild each other's bundle. */
const cacheDir = join(
  tmpdir(),
  `iova-fuzz-worker-${createHash("sha256").update(entry).digest("hex").slice(0, 12)}`,
);
const manifestFile = join(cacheDir, "manifest.json");

/** The hash of the files' contents, or null when one cannot be read. */
function hashOf(files: readonly string[]): string | null {
  const hash = createHash("sha256");
  try {
    for (const f of files) hash.update(f).update("\0").update(readFileSync(f)).update("\0");
  } catch {
    return null;
  }
  return hash.digest("hex");
}

/** Writes a file whole or not at all, so that campaigns started together never read half a one. */
function writeAtomically(file: string, text: string): void {
  const part = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(part, text);
  renameSync(part, file);
}

/** The path of an up-to-date worker bundle, built if needed. */
export async function workerBundle(): Promise<string> {
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as {
      inputs: string[];
      hash: string;
    };
    const file = join(cacheDir, `${manifest.hash}.mjs`);
    if (hashOf(manifest.inputs) === manifest.hash && existsSync(file)) return file;
  } catch {
    // No usable cache: build.
  }
  const { buildSync } = await import("esbuild");
  const built = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    metafile: true,
    logLevel: "error",
    // Bundled CommonJS dependencies may call require: give the module one.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  const inputs = Object.keys(built.metafile.inputs)
    .map((f) => resolve(f))
    .sort();
  const hash = hashOf(inputs);
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `${hash ?? "unhashed"}.mjs`);
  writeAtomically(file, built.outputFiles[0].text);
  if (hash !== null) writeAtomically(manifestFile, JSON.stringify({ inputs, hash }));
  // Older bundles: removed once no campaign can still be starting from them.
  for (const old of readdirSync(cacheDir)) {
    const path = join(cacheDir, old);
    try {
      if (path !== file && old.endsWith(".mjs") && Date.now() - statSync(path).mtimeMs > 600_000)
        rmSync(path, { force: true });
    } catch {
      // Removed by another campaign meanwhile.
    }
  }
  return file;
}
