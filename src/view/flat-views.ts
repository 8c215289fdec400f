/** Pictures of a memory system's flat views, and a page of them (for imported QEMU dumps). */
import type { MemorySystem } from "../memory/memory-system.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import { type FlatViewPicture, flatViewsHtml, mtreeHtml } from "./html.ts";
import { PAGE_SCRIPT } from "./page-script.ts";

/** One picture per distinct flat view, with the address spaces that share it. */
export function flatViewPictures(system: MemorySystem): FlatViewPicture[] {
  const groups = new Map<
    unknown,
    { names: string[]; view: (typeof system.addressSpaces)[number]["view"] }
  >();
  for (const as of system.addressSpaces) {
    const g = groups.get(as.view);
    if (g) g.names.push(as.name);
    else groups.set(as.view, { names: [as.name], view: as.view });
  }
  return [...groups.values()].map(({ names, view }) => ({
    addressSpaces: names,
    ranges: view.ranges.map((fr) => ({
      start: fr.start,
      end: fr.end,
      name: fr.mr.name,
      type: fr.readonly ? "rom" : fr.mr.typeName,
      priority: fr.mr.priority,
      offset: fr.offsetInRegion,
    })),
  }));
}

/** A self-contained page of a memory system: its flat views and its `info mtree` tree. */
export function renderMemoryHtml(system: MemorySystem, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iova: ${title.replace(/[<&]/g, "")}</title>
<style>body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 1240px; }
svg text { font: 11px monospace; } svg .lane { font: 12px system-ui; fill: #444; }
.range rect { fill: #fdebd0; stroke: #ca6f1e; } .range.ram rect, .range.rom rect { fill: #d6eaf8; stroke: #2e86c1; }
.gap rect { fill: #f4f6f7; } .gap text { fill: #888; } #detail { font-family: monospace; min-height: 1.4em; }
g[tabindex]:focus rect, g[tabindex]:hover rect { stroke-width: 3; }
details details { margin-left: 1.2em; } .leaf { margin-left: 1.2em; font: 12px monospace; } summary { font: 12px monospace; cursor: pointer; }</style></head>
<body><h1>${title.replace(/[<&]/g, "")}</h1>
<p id="detail" aria-live="polite">Hover or focus a range to see what it is.</p>
<h2>Flat views</h2>
${flatViewsHtml(flatViewPictures(system))}
<h2>info mtree</h2>
${mtreeHtml(formatMtree(system, { disabled: true }))}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
