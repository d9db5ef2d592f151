CREATE TABLE `quarantine` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`test_binary` text,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`reason` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL,
	`expires_at` integer,
	`removed_at` integer,
	`removed_by` text
);
--> statement-breakpoint
CREATE INDEX `quarantine_removed_at_idx` ON `quarantine` (`removed_at`);--> statement-breakpoint
CREATE TABLE `quarantined_cases` (
	`job_id` text NOT NULL,
	`case_key` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`quarantine_id` integer NOT NULL,
	PRIMARY KEY(`job_id`, `case_key`, `task_id`, `attempt`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `quarantined` integer DEFAULT false NOT NULL;