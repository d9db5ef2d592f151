CREATE TABLE `attempts` (
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`retry` integer NOT NULL,
	`state` text NOT NULL,
	`slave` text,
	`lease_id` text,
	`lease_expires_at` integer,
	`exit_code` integer,
	`stdout_key` text,
	`stderr_key` text,
	`artifact_key` text,
	`artifact_missing` integer NOT NULL,
	`cache` text,
	`message` text,
	`queued_at` integer NOT NULL,
	`leased_at` integer,
	`fetch_done_at` integer,
	`map_done_at` integer,
	`command_start_at` integer,
	`command_end_at` integer,
	`upload_done_at` integer,
	`reported_at` integer,
	PRIMARY KEY(`job_id`, `task_id`, `attempt`),
	FOREIGN KEY (`job_id`,`task_id`) REFERENCES `tasks`(`job_id`,`task_id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `attempts_lease_id_idx` ON `attempts` (`lease_id`);--> statement-breakpoint
CREATE INDEX `attempts_state_idx` ON `attempts` (`state`);--> statement-breakpoint
CREATE TABLE `durations` (
	`key` text PRIMARY KEY NOT NULL,
	`expected_ms` real NOT NULL,
	`samples` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`user` text NOT NULL,
	`name` text,
	`priority` integer NOT NULL,
	`created_at` integer NOT NULL,
	`canceled_at` integer
);
--> statement-breakpoint
CREATE INDEX `jobs_created_at_idx` ON `jobs` (`created_at`);--> statement-breakpoint
CREATE INDEX `jobs_user_created_at_idx` ON `jobs` (`user`,`created_at`);--> statement-breakpoint
CREATE TABLE `slaves` (
	`name` text PRIMARY KEY NOT NULL,
	`dimensions` text NOT NULL,
	`slots` integer NOT NULL,
	`version` text NOT NULL,
	`state` text NOT NULL,
	`last_seen_at` integer NOT NULL,
	`registered_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tasks` (
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`task_index` integer NOT NULL,
	`isolate_hash` text NOT NULL,
	`description` text NOT NULL,
	`timeout_sec` integer NOT NULL,
	`max_retries` integer NOT NULL,
	`artifact_globs` text NOT NULL,
	`env` text NOT NULL,
	`dimensions` text NOT NULL,
	`priority` integer NOT NULL,
	PRIMARY KEY(`job_id`, `task_id`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `tasks_job_index_idx` ON `tasks` (`job_id`,`task_index`);