CREATE TABLE `reusable_results` (
	`task_key` varchar(64) NOT NULL,
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`reported_at` bigint NOT NULL,
	`saved_ms` int NOT NULL,
	CONSTRAINT `reusable_results_pk` PRIMARY KEY(`job_id`,`task_id`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `reused_from` text;--> statement-breakpoint
ALTER TABLE `job_cases` ADD `reused_from` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `idempotent` boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `task_key` varchar(64);--> statement-breakpoint
ALTER TABLE `reusable_results` ADD CONSTRAINT `reusable_results_job_id_jobs_id_fk` FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `reusable_results_key_idx` ON `reusable_results` (`task_key`,`reported_at`);