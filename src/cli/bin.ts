#!/usr/bin/env node
/** Entry point of the `iova` executable. */
import { main } from "./main.ts";

process.exitCode = main(process.argv.slice(2));
