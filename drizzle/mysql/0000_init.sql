CREATE TABLE `attempts` (
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`retry` int NOT NULL,
	`state` varchar(16) NOT NULL,
	`slave` varchar(255),
	`lease_id` varchar(64),
	`lease_expires_at` bigint,
	`exit_code` int,
	`stdout_key` varchar(512),
	`stderr_key` varchar(512),
	`artifact_key` varchar(512),
	`artifact_missing` boolean NOT NULL,
	`cache` text,
	`message` text,
	`queued_at` bigint NOT NULL,
	`leased_at` bigint,
	`fetch_done_at` bigint,
	`map_done_at` bigint,
	`command_start_at` bigint,
	`command_end_at` bigint,
	`upload_done_at` bigint,
	`reported_at` bigint,
	CONSTRAINT `attempts_pk` PRIMARY KEY(`job_id`,`task_id`,`attempt`)
);
--> statement-breakpoint
CREATE TABLE `durations` (
	`key` varchar(255) NOT NULL,
	`expected_ms` double NOT NULL,
	`samples` int NOT NULL,
	`updated_at` bigint NOT NULL,
	CONSTRAINT `durations_key` PRIMARY KEY(`key`)
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` varchar(100) NOT NULL,
	`user` varchar(64) NOT NULL,
	`name` varchar(255),
	`priority` int NOT NULL,
	`created_at` bigint NOT NULL,
	`canceled_at` bigint,
	CONSTRAINT `jobs_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `slaves` (
	`name` varchar(255) NOT NULL,
	`dimensions` text NOT NULL,
	`slots` int NOT NULL,
	`version` varchar(64) NOT NULL,
	`state` varchar(16) NOT NULL,
	`last_seen_at` bigint NOT NULL,
	`registered_at` bigint NOT NULL,
	CONSTRAINT `slaves_name` PRIMARY KEY(`name`)
);
--> statement-breakpoint
CREATE TABLE `tasks` (
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`task_index` int NOT NULL,
	`isolate_hash` varchar(128) NOT NULL,
	`description` text NOT NULL,
	`timeout_sec` int NOT NULL,
	`max_retries` int NOT NULL,
	`artifact_globs` text NOT NULL,
	`env` text NOT NULL,
	`dimensions` text NOT NULL,
	`priority` int NOT NULL,
	CONSTRAINT `tasks_pk` PRIMARY KEY(`job_id`,`task_id`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD CONSTRAINT `attempts_task_fk` FOREIGN KEY (`job_id`,`task_id`) REFERENCES `tasks`(`job_id`,`task_id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `tasks` ADD CONSTRAINT `tasks_job_id_jobs_id_fk` FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `attempts_lease_id_idx` ON `attempts` (`lease_id`);--> statement-breakpoint
CREATE INDEX `attempts_state_idx` ON `attempts` (`state`);--> statement-breakpoint
CREATE INDEX `jobs_created_at_idx` ON `jobs` (`created_at`);--> statement-breakpoint
CREATE INDEX `jobs_user_created_at_idx` ON `jobs` (`user`,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_job_index_idx` ON `tasks` (`job_id`,`task_index`);