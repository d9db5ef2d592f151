CREATE TABLE `job_flags` (
	`id` int AUTO_INCREMENT NOT NULL,
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`kind` varchar(32) NOT NULL,
	`text` text NOT NULL,
	`created_at` bigint NOT NULL,
	CONSTRAINT `job_flags_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `case_selection` mediumtext;--> statement-breakpoint
ALTER TABLE `tasks` ADD `case_filter` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `case_selection` mediumtext;--> statement-breakpoint
ALTER TABLE `tasks` ADD `retry_mode` varchar(8) DEFAULT 'cases' NOT NULL;--> statement-breakpoint
CREATE INDEX `job_flags_job_idx` ON `job_flags` (`job_id`,`id`);--> statement-breakpoint
CREATE INDEX `cases_binary_idx` ON `cases` (`test_binary`,`reported_at`);