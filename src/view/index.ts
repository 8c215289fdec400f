/** Views of a report: pure functions from the report to HTML and SVG. */
export * from "./html.ts";
