CREATE TABLE `reusable_results` (
	`task_key` text NOT NULL,
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`reported_at` integer NOT NULL,
	`saved_ms` integer NOT NULL,
	PRIMARY KEY(`job_id`, `task_id`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `reusable_results_key_idx` ON `reusable_results` (`task_key`,`reported_at`);--> statement-breakpoint
ALTER TABLE `attempts` ADD `reused_from` text;--> statement-breakpoint
ALTER TABLE `job_cases` ADD `reused_from` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `idempotent` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `task_key` text;