/**
 * The playground page's script (bundled by scripts/build-playground.mjs with the core, for the
 * browser): three inputs (a scenario in an editor that marks the loader's errors at line and
 * column, an `info mtree` dump, a QEMU trace log with its command line), files dropped anywhere,
 * a run through the same core the CLI uses, the report page of src/view shown in a sandboxed
 * frame, the `info mtree` texts, and the whole state as a link. No network, no server.
 */
import { decodeState, encodeState, type PlayMode, type PlayState } from "./fragment.ts";
import {
  checkScenario,
  type PlayResult,
  type Problem,
  playMtree,
  playScenario,
  playTrace,
  splitMtreeDump,
} from "./play.ts";

/** The examples the build embeds (examples/ of the package). */
interface Examples {
  /** The scenario shown first. */
  readonly featured: string;
  readonly scenarios: readonly { readonly name: string; readonly text: string }[];
  readonly mtree: readonly {
    readonly name: string;
    readonly tree: string;
    readonly flat: string;
  }[];
  readonly traces: readonly {
    readonly name: string;
    readonly log: string;
    readonly commandLine: string;
  }[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const examples: Examples = JSON.parse($("examples").textContent ?? "{}");
const el = {
  tabs: Array.from(document.querySelectorAll<HTMLButtonElement>("[role=tab]")),
  example: $<HTMLSelectElement>("example"),
  scenarioName: $<HTMLInputElement>("scenario-name"),
  behaviour: $<HTMLSelectElement>("behaviour"),
  scenarioText: $<HTMLTextAreaElement>("scenario-text"),
  gutter: $<HTMLElement>("gutter"),
  marks: $<HTMLElement>("marks"),
  mtreeExample: $<HTMLSelectElement>("mtree-example"),
  mtreeTree: $<HTMLTextAreaElement>("mtree-tree"),
  mtreeFlat: $<HTMLTextAreaElement>("mtree-flat"),
  traceExample: $<HTMLSelectElement>("trace-example"),
  traceLog: $<HTMLTextAreaElement>("trace-log"),
  traceCommandLine: $<HTMLTextAreaElement>("trace-cmdline"),
  traceAssume: $<HTMLSelectElement>("trace-assume"),
  problems: $<HTMLUListElement>("problems"),
  run: $<HTMLButtonElement>("run"),
  share: $<HTMLButtonElement>("share"),
  shareLink: $<HTMLInputElement>("share-link"),
  status: $<HTMLElement>("status"),
  output: $<HTMLElement>("output"),
  verdict: $<HTMLElement>("verdict"),
  report: $<HTMLIFrameElement>("report"),
  text: $<HTMLElement>("text-report"),
  mtreeText: $<HTMLElement>("mtree-text"),
  mtreeFlatText: $<HTMLElement>("mtree-flat-text"),
  rebuilt: $<HTMLElement>("rebuilt"),
  rebuiltText: $<HTMLElement>("rebuilt-text"),
  editRebuilt: $<HTMLButtonElement>("edit-rebuilt"),
};

let mode: PlayMode = "scenario";

function setMode(next: PlayMode): void {
  mode = next;
  for (const tab of el.tabs) {
    const on = tab.dataset.mode === next;
    tab.setAttribute("aria-selected", String(on));
    $(`input-${tab.dataset.mode}`).hidden = !on;
  }
}

function option(select: HTMLSelectElement, value: string, label: string): void {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  select.append(o);
}

// ---- the scenario editor: line numbers, and the loader's problem marked where it is ----

/**
 * Renders the gutter and the marks layer behind the textarea for these problems. The layer holds
 * the same text, transparent, so that a problem's line and column land under the characters they
 * name; lines without a problem stay plain text (a large file costs no element per line).
 */
function markProblems(problems: readonly Problem[]): void {
  const text = el.scenarioText.value;
  const lines = text.split("\n");
  const bad = new Map(
    problems.filter((p) => p.line > 0 && p.line <= lines.length).map((p) => [p.line, p]),
  );
  el.gutter.textContent = Array.from({ length: lines.length }, (_, i) => i + 1).join("\n");
  const parts: (string | Node)[] = [];
  let plain: string[] = [];
  lines.forEach((line, i) => {
    const p = bad.get(i + 1);
    if (!p) {
      plain.push(line);
      return;
    }
    if (plain.length) parts.push(`${plain.join("\n")}\n`);
    plain = [];
    const span = document.createElement("span");
    span.className = "error-line";
    span.dataset.line = String(p.line);
    span.title = p.message;
    // Columns are 1-based; one past the end marks where something was expected.
    const at = Math.max(0, Math.min(p.column - 1, line.length));
    const mark = document.createElement("mark");
    mark.className = "error-at";
    mark.dataset.column = String(p.column);
    mark.textContent = line.slice(at, at + 1) || " ";
    span.append(line.slice(0, at), mark, line.slice(at + 1));
    parts.push(span, i + 1 < lines.length ? "\n" : "");
  });
  if (plain.length) parts.push(plain.join("\n"));
  el.marks.replaceChildren(...parts);
  syncScroll();
}

function syncScroll(): void {
  el.marks.style.transform = `translate(${-el.scenarioText.scrollLeft}px, ${-el.scenarioText.scrollTop}px)`;
  el.gutter.style.transform = `translateY(${-el.scenarioText.scrollTop}px)`;
}

/** Lists problems under the inputs; a scenario's can be clicked to put the cursor there. */
function listProblems(problems: readonly Problem[]): void {
  el.problems.replaceChildren(
    ...problems.map((p) => {
      const li = document.createElement("li");
      li.dataset.line = String(p.line);
      li.dataset.column = String(p.column);
      const where = p.line > 0 ? `:${p.line}${p.column > 0 ? `:${p.column}` : ""}` : "";
      li.textContent = `${p.source}${where}: ${p.message}`;
      if (mode === "scenario" && p.line > 0) {
        li.tabIndex = 0;
        li.addEventListener("click", () => goTo(p.line, p.column));
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter") goTo(p.line, p.column);
        });
      }
      return li;
    }),
  );
}

/** Puts the editor's cursor at a line and column (1-based). */
function goTo(line: number, column: number): void {
  const lines = el.scenarioText.value.split("\n");
  let at = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
  at += Math.max(0, Math.min(column - 1, (lines[line - 1] ?? "").length));
  el.scenarioText.focus();
  el.scenarioText.setSelectionRange(at, at);
}

/** Past this many characters a scenario is checked when it runs, not as it is typed. */
const LIVE_CHECK_CHARS = 1 << 20;

let checkTimer: ReturnType<typeof setTimeout> | undefined;
/** Checks the scenario as it is typed (the loader only, no run), a moment after typing stops. */
function checkSoon(): void {
  clearTimeout(checkTimer);
  if (el.scenarioText.value.length > LIVE_CHECK_CHARS) {
    el.status.textContent = "a large scenario: checked when it runs";
    return;
  }
  checkTimer = setTimeout(() => {
    const problems = checkScenario(el.scenarioText.value, scenarioName());
    markProblems(problems);
    listProblems(problems);
  }, 200);
}

const scenarioName = () => el.scenarioName.value.trim() || "scenario.yaml";

// ---- running ----

function show(result: PlayResult, ms: number): void {
  markProblems(mode === "scenario" ? result.problems : []);
  listProblems(result.problems);
  el.output.hidden = false;
  el.verdict.textContent = result.verdict;
  el.verdict.className = `verdict ${result.verdict}`;
  el.report.srcdoc = result.html ?? "";
  el.report.hidden = result.html === undefined;
  // An input that did not load has only its problems to show.
  for (const part of el.output.querySelectorAll<HTMLElement>("[data-result]"))
    part.hidden = result.verdict === "error";
  el.text.textContent = result.text ?? "";
  el.mtreeText.textContent = result.mtree ?? "";
  el.mtreeFlatText.textContent = result.flat ?? "";
  el.rebuilt.hidden = result.scenarioText === undefined;
  el.rebuiltText.textContent = result.scenarioText ?? "";
  el.status.textContent = `${mode}: ${result.verdict} in ${Math.round(ms)} ms`;
  document.body.dataset.verdict = result.verdict;
}

function play(): PlayResult {
  if (mode === "scenario") {
    const behaviour = el.behaviour.value;
    return playScenario(
      el.scenarioText.value,
      scenarioName(),
      behaviour === "" ? undefined : (behaviour as "qemu-7.2" | "qemu-2016-prefix"),
    );
  }
  if (mode === "mtree") {
    const flat = el.mtreeFlat.value;
    // One pasted dump may hold both outputs (the tree, then -f): split it when -f is not apart.
    const dump = flat.trim() === "" ? splitMtreeDump(el.mtreeTree.value) : undefined;
    return playMtree(dump?.tree ?? el.mtreeTree.value, dump?.flat ?? flat);
  }
  return playTrace(
    el.traceLog.value,
    el.traceCommandLine.value,
    el.traceAssume.value === "linear" ? "linear" : "none",
  );
}

/** Runs the current input; the page says so first, since a long run holds the page. */
function run(): Promise<void> {
  document.body.dataset.verdict = "running";
  el.status.textContent = `${mode}: running…`;
  // A few milliseconds first, so that the page paints "running" before the run holds it.
  return new Promise((resolve) =>
    setTimeout(() => {
      const t0 = performance.now();
      const result = play();
      show(result, performance.now() - t0);
      resolve();
    }, 20),
  );
}

// ---- state and links ----

function state(): PlayState {
  return {
    mode,
    scenario: { name: el.scenarioName.value, text: el.scenarioText.value },
    behaviour: el.behaviour.value as PlayState["behaviour"],
    mtree: { tree: el.mtreeTree.value, flat: el.mtreeFlat.value },
    trace: {
      log: el.traceLog.value,
      commandLine: el.traceCommandLine.value,
      assume: el.traceAssume.value === "linear" ? "linear" : "none",
    },
  };
}

function restore(s: PlayState): void {
  el.scenarioName.value = s.scenario.name;
  el.scenarioText.value = s.scenario.text;
  el.behaviour.value = s.behaviour;
  el.mtreeTree.value = s.mtree.tree;
  el.mtreeFlat.value = s.mtree.flat;
  el.traceLog.value = s.trace.log;
  el.traceCommandLine.value = s.trace.commandLine;
  el.traceAssume.value = s.trace.assume;
  const example = examples.scenarios.find((e) => e.name === s.scenario.name);
  el.example.value = example && example.text === s.scenario.text ? example.name : "";
  setMode(s.mode);
}

async function share(): Promise<void> {
  const fragment = await encodeState(state());
  history.replaceState(null, "", fragment);
  // Browsers keep URLs to about 2 MB (Chromium); past that a link may not survive being opened.
  const tooLong = fragment.length > 2_000_000 ? " (too long for a link in most browsers)" : "";
  el.shareLink.value = location.href;
  el.shareLink.hidden = false;
  el.shareLink.select();
  try {
    await navigator.clipboard.writeText(location.href);
    el.status.textContent = `link copied (${fragment.length} characters)${tooLong}`;
  } catch {
    el.status.textContent = `link ready to copy (${fragment.length} characters)${tooLong}`;
  }
}

/** Restores the state a link carries and runs it; false when there is none. */
async function fromLink(): Promise<boolean> {
  if (!location.hash.startsWith("#v1=")) return false;
  try {
    restore(await decodeState(location.hash));
  } catch (e) {
    el.status.textContent = `this link's state could not be read: ${e instanceof Error ? e.message : e}`;
    document.body.dataset.verdict = "bad-link";
    return true;
  }
  await run();
  return true;
}

// ---- examples and dropped files ----

function loadScenarioExample(name: string): void {
  const e = examples.scenarios.find((x) => x.name === name);
  if (!e) return;
  el.example.value = e.name;
  el.scenarioName.value = e.name;
  el.scenarioText.value = e.text;
  el.behaviour.value = "";
  setMode("scenario");
}

/** What kind of input a dropped file is, from its name and first lines. */
function classify(name: string, text: string): "scenario" | "mtree" | "cmdline" | "log" {
  const head = text.slice(0, 4096);
  if (/\.(ya?ml|json)$/i.test(name) || /^(name|machine|steps):/m.test(head)) return "scenario";
  if (/^(address-space: |FlatView #\d)/m.test(head)) return "mtree";
  if (/^\s*\S*qemu-system-/.test(head) || /cmdline/i.test(name)) return "cmdline";
  return "log";
}

async function drop(files: readonly File[]): Promise<void> {
  let next: PlayMode | undefined;
  for (const file of files) {
    const text = await file.text();
    const kind = classify(file.name, text);
    if (kind === "scenario") {
      el.scenarioName.value = file.name;
      el.scenarioText.value = text;
      el.example.value = "";
      next = "scenario";
    } else if (kind === "mtree") {
      const dump = splitMtreeDump(text);
      if (dump.tree.trim()) el.mtreeTree.value = dump.tree;
      if (dump.flat.trim()) el.mtreeFlat.value = dump.flat;
      next = "mtree";
    } else if (kind === "cmdline") {
      el.traceCommandLine.value = text;
      next = "trace";
    } else {
      el.traceLog.value = text;
      next = "trace";
    }
  }
  if (next) {
    setMode(next);
    await run();
  }
}

function setup(): void {
  for (const e of examples.scenarios) option(el.example, e.name, e.name);
  for (const e of examples.mtree) option(el.mtreeExample, e.name, e.name);
  for (const e of examples.traces) option(el.traceExample, e.name, e.name);
  el.tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => setMode(tab.dataset.mode as PlayMode));
    // Arrow keys move between the tabs, as in any tab list.
    tab.addEventListener("keydown", (e) => {
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = el.tabs[(i + step + el.tabs.length) % el.tabs.length];
      next.focus();
      setMode(next.dataset.mode as PlayMode);
    });
  });
  el.example.addEventListener("change", () => {
    loadScenarioExample(el.example.value);
    void run();
  });
  el.mtreeExample.addEventListener("change", () => {
    const e = examples.mtree.find((x) => x.name === el.mtreeExample.value);
    if (!e) return;
    el.mtreeTree.value = e.tree;
    el.mtreeFlat.value = e.flat;
    void run();
  });
  el.traceExample.addEventListener("change", () => {
    const e = examples.traces.find((x) => x.name === el.traceExample.value);
    if (!e) return;
    el.traceLog.value = e.log;
    el.traceCommandLine.value = e.commandLine;
    void run();
  });
  el.scenarioText.addEventListener("input", () => {
    el.example.value = "";
    checkSoon();
  });
  el.scenarioText.addEventListener("scroll", syncScroll);
  el.scenarioText.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void run();
  });
  el.run.addEventListener("click", () => void run());
  el.share.addEventListener("click", () => void share());
  el.editRebuilt.addEventListener("click", () => {
    el.scenarioName.value = "rebuilt-from-trace.yaml";
    el.scenarioText.value = el.rebuiltText.textContent ?? "";
    el.example.value = "";
    setMode("scenario");
    void run();
  });
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    void drop(Array.from(e.dataTransfer?.files ?? []));
  });
  window.addEventListener("hashchange", () => void fromLink());
  markProblems([]);
  void fromLink().then((restored) => {
    if (restored) return;
    loadScenarioExample(examples.featured);
    if (examples.mtree[0]) {
      el.mtreeTree.value = examples.mtree[0].tree;
      el.mtreeFlat.value = examples.mtree[0].flat;
    }
    if (examples.traces[0]) {
      el.traceLog.value = examples.traces[0].log;
      el.traceCommandLine.value = examples.traces[0].commandLine;
    }
    void run();
  });
}

setup();
