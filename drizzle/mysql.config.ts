/**
 * drizzle-kit's configuration for the MySQL/MariaDB schema: `bun run
 * db:generate:mysql` writes a new migration into drizzle/mysql/ from the
 * difference between src/master/repo/schema-mysql.ts and the last snapshot in
 * drizzle/mysql/meta/. It needs no database. The master never reads this
 * folder at run time: drizzle/mysql/index.ts embeds the migrations.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "mysql",
  schema: "./src/master/repo/schema-mysql.ts",
  out: "./drizzle/mysql",
});
