CREATE TABLE `quarantine` (
	`id` int AUTO_INCREMENT NOT NULL,
	`test_binary` varchar(255),
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`reason` text NOT NULL,
	`created_at` bigint NOT NULL,
	`created_by` varchar(64) NOT NULL,
	`expires_at` bigint,
	`removed_at` bigint,
	`removed_by` varchar(64),
	CONSTRAINT `quarantine_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `quarantined_cases` (
	`job_id` varchar(100) NOT NULL,
	`case_key` varchar(32) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`quarantine_id` int NOT NULL,
	CONSTRAINT `quarantined_cases_pk` PRIMARY KEY(`job_id`,`case_key`,`task_id`,`attempt`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `quarantined` boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `quarantine_removed_at_idx` ON `quarantine` (`removed_at`);