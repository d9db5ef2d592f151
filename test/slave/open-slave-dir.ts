/**
 * openSlaveDir in a process of its own, for the tests of files that could
 * block it (a FIFO where a record should be): a blocked read would hang
 * the test runner itself. Arguments: root dir, slave name. Prints what the
 * previous life left, as JSON.
 */
import { createLogger } from "../../src/common/log.ts";
import { openSlaveDir } from "../../src/slave/slave-dir.ts";

const [rootDir, name] = process.argv.slice(2);
const opened = await openSlaveDir({ rootDir: rootDir!, name: name!, log: createLogger({ level: "silent" }) });
process.stdout.write(JSON.stringify(opened.previous));
