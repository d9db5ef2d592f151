CREATE TABLE `cases` (
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`case_index` integer NOT NULL,
	`case_key` text NOT NULL,
	`test_binary` text NOT NULL,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`duration_ms` integer,
	`message` text,
	`file` text,
	`line` integer,
	`flaky_failures` integer NOT NULL,
	`reported_at` integer NOT NULL,
	PRIMARY KEY(`job_id`, `task_id`, `attempt`, `case_index`)
);
--> statement-breakpoint
CREATE INDEX `cases_job_key_idx` ON `cases` (`job_id`,`case_key`);--> statement-breakpoint
CREATE INDEX `cases_history_idx` ON `cases` (`case_key`,`reported_at`);--> statement-breakpoint
CREATE TABLE `job_case_counts` (
	`job_id` text PRIMARY KEY NOT NULL,
	`passed` integer NOT NULL,
	`failed` integer NOT NULL,
	`crashed` integer NOT NULL,
	`flaky` integer NOT NULL,
	`skipped` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `job_cases` (
	`job_id` text NOT NULL,
	`case_key` text NOT NULL,
	`seq` integer NOT NULL,
	`test_binary` text NOT NULL,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`duration_ms` integer,
	`message` text,
	`file` text,
	`line` integer,
	`runs` integer NOT NULL,
	`failures` integer NOT NULL,
	PRIMARY KEY(`job_id`, `case_key`)
);
--> statement-breakpoint
CREATE INDEX `job_cases_seq_idx` ON `job_cases` (`job_id`,`seq`);--> statement-breakpoint
CREATE INDEX `job_cases_status_idx` ON `job_cases` (`job_id`,`status`,`seq`);--> statement-breakpoint
ALTER TABLE `attempts` ADD `outputs_ref` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `shard_index` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `shard_count` integer;