#!/usr/bin/env node
/** Entry point of the `iova` executable. */
import { mainAsync } from "./main.ts";

process.exitCode = await mainAsync(process.argv.slice(2));
