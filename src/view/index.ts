/** Views of a report: pure functions from the report to HTML and SVG, and the page's drawing. */

export * from "./flat-views.ts";
export * from "./html.ts";
export * from "./model.ts";
export { Axis, describe, MAP_CSS, type MapHandle, mountMap } from "./page/draw.ts";
