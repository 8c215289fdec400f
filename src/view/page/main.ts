/**
 * The script of the HTML pages (bundled by esbuild into page-script.ts). On a report page: draws
 * the DMA map from the embedded `ReportView` JSON, a timeline one can scrub (slider, arrow keys,
 * or a click on a step) to see the map after each step and what the step changed, and a detail
 * line that shows what the hovered or focused bar is. On any page: the detail line for the static
 * flat-view pictures. Runs in the browser; no framework, no network.
 */
import type { ReportView } from "../model.ts";
import { mountMap } from "./draw.ts";

function setup(): void {
  const detail = document.querySelector<HTMLElement>("#detail");
  const say = (text: string) => {
    if (detail) detail.textContent = text;
  };
  const describe = (event: Event) => {
    const g = (event.target as Element | null)?.closest?.("g[data-detail]");
    if (g) say(g.getAttribute("data-detail") ?? "");
  };
  document.addEventListener("mouseover", describe);
  document.addEventListener("focusin", describe);

  const data = document.querySelector("#iova-view");
  const root = document.querySelector<HTMLElement>("#map");
  if (!data || !root) return;
  const view = JSON.parse(data.textContent ?? "{}") as ReportView;
  const map = mountMap(root, view, say);
  // A finding names a bus address: a click (or Enter) zooms the map to it.
  for (const li of Array.from(document.querySelectorAll<HTMLElement>(".findings li[data-bus]"))) {
    const go = () => {
      const bus = BigInt(li.dataset.bus ?? "0");
      const size = BigInt(li.dataset.size ?? "0x1000");
      map.zoomTo(bus - size / 2n > 0n ? bus - size / 2n : 0n, bus + size + size / 2n);
      root.scrollIntoView({ block: "nearest" });
    };
    li.addEventListener("click", go);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") go();
    });
  }
  const slider = document.querySelector<HTMLInputElement>("#timeline");
  const label = document.querySelector<HTMLElement>("#timeline-label");
  const changes = document.querySelector<HTMLElement>("#changes");
  const rows = Array.from(document.querySelectorAll<HTMLElement>("li.step[data-frame]"));
  const show = (i: number) => {
    map.setFrame(i);
    const frame = view.frames[i];
    if (label) label.textContent = frame?.label ?? "";
    const step = view.steps.find((s) => s.frame === i);
    if (changes)
      changes.textContent = step
        ? step.changes.length
          ? `Step ${step.step} changed: ${step.changes.join("; ")}`
          : `Step ${step.step} changed no window and no mapping.`
        : "";
    for (const r of rows) r.classList.toggle("current", Number(r.dataset.frame) === i);
  };
  if (slider) {
    slider.addEventListener("input", () => show(Number(slider.value)));
    for (const r of rows) {
      const pick = () => {
        slider.value = r.dataset.frame ?? slider.max;
        show(Number(slider.value));
      };
      r.addEventListener("click", pick);
      r.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          pick();
        }
      });
    }
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
else setup();
