/** Views of a report: pure functions from the report to HTML and SVG. */

export * from "./flat-views.ts";
export * from "./html.ts";
