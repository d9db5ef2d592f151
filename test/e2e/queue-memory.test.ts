import { queueConformance } from "./queue.conformance.ts";

queueConformance("the in-process queue", { masterArgs: () => [] });
