/**
 * Preloaded by bunfig.toml: an afterAll in a preloaded file runs once, after
 * every test file, so the MySQL databases test/helpers/mysql-databases.ts
 * handed out across files are dropped at the end of the run.
 */
import { afterAll } from "bun:test";
import { dropMysqlDatabases } from "./mysql-databases.ts";

afterAll(dropMysqlDatabases);
