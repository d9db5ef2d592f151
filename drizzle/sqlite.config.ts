/**
 * drizzle-kit's configuration for the SQLite schema: `bun run db:generate`
 * writes a new migration into drizzle/sqlite/ from the difference between
 * src/master/repo/schema-sqlite.ts and the last snapshot in drizzle/sqlite/meta/.
 * The master never reads this folder at run time: drizzle/sqlite/index.ts
 * embeds the migrations into the binary.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/master/repo/schema-sqlite.ts",
  out: "./drizzle/sqlite",
});
