/**
 * The script of the HTML report (bundled by esbuild into page-script.ts): a timeline one can
 * scrub (slider, arrow keys) to see the DMA map after each step, and a detail line that shows what
 * the hovered or focused range is. Runs in the browser; no framework, no network.
 */

function setup(): void {
  const slider = document.querySelector<HTMLInputElement>("#timeline");
  const label = document.querySelector<HTMLElement>("#timeline-label");
  const frames = Array.from(document.querySelectorAll<HTMLElement>(".frame"));
  const show = (i: number) => {
    frames.forEach((f, k) => {
      f.hidden = k !== i;
    });
    if (label) label.textContent = frames[i]?.dataset.label ?? "";
  };
  if (slider && frames.length) {
    slider.addEventListener("input", () => show(Number(slider.value)));
    show(Number(slider.value));
  }
  const detail = document.querySelector<HTMLElement>("#detail");
  const describe = (event: Event) => {
    const g = (event.target as Element | null)?.closest?.("g[data-detail]");
    if (g && detail) detail.textContent = g.getAttribute("data-detail");
  };
  document.addEventListener("mouseover", describe);
  document.addEventListener("focusin", describe);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
else setup();
