import { readdirSync, readFileSync } from "node:fs";
import { runCampaign } from "./fuzz/campaign.ts";
const jobs = Number(process.argv[2] ?? 1), runs = Number(process.argv[3] ?? 1000);
const t = performance.now();
const r = await runCampaign(runs, 7, jobs);
const wall = (performance.now() - t) / 1000;
const per = new Map<string, number>();
for (const tid of readdirSync("/proc/self/task")) { try {
  const st = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
  const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  if (ticks > 0) per.set(`${comm}:${tid === String(process.pid) ? "main" : tid}`, ticks / 100); } catch {}
}
console.log(`jobs ${jobs} runs ${runs} checked ${r.checked} wall ${wall.toFixed(2)} busy ${r.busyMs.map((m) => (m / 1000).toFixed(2))}`);
const total = [...per.values()].reduce((a, b) => a + b, 0);
const main = per.get("node:main") ?? 0;
console.log(`main ${main.toFixed(2)} total ${total.toFixed(2)} ` + [...per].filter(([k]) => k !== "node:main").map(([k, v]) => v.toFixed(2)).join(" "));
