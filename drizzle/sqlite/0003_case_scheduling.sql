CREATE TABLE `job_flags` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`kind` text NOT NULL,
	`text` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `job_flags_job_idx` ON `job_flags` (`job_id`,`id`);--> statement-breakpoint
ALTER TABLE `attempts` ADD `case_selection` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `case_filter` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `case_selection` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `retry_mode` text DEFAULT 'cases' NOT NULL;--> statement-breakpoint
CREATE INDEX `cases_binary_idx` ON `cases` (`test_binary`,`reported_at`);