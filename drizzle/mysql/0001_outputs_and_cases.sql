CREATE TABLE `cases` (
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`case_index` int NOT NULL,
	`case_key` varchar(32) NOT NULL,
	`test_binary` varchar(255) NOT NULL,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`status` varchar(8) NOT NULL,
	`duration_ms` int,
	`message` text,
	`file` text,
	`line` int,
	`flaky_failures` int NOT NULL,
	`reported_at` bigint NOT NULL,
	CONSTRAINT `cases_pk` PRIMARY KEY(`job_id`,`task_id`,`attempt`,`case_index`)
);
--> statement-breakpoint
CREATE TABLE `job_case_counts` (
	`job_id` varchar(100) NOT NULL,
	`passed` int NOT NULL,
	`failed` int NOT NULL,
	`crashed` int NOT NULL,
	`flaky` int NOT NULL,
	`skipped` int NOT NULL,
	CONSTRAINT `job_case_counts_job_id` PRIMARY KEY(`job_id`)
);
--> statement-breakpoint
CREATE TABLE `job_cases` (
	`job_id` varchar(100) NOT NULL,
	`case_key` varchar(32) NOT NULL,
	`seq` int NOT NULL,
	`test_binary` varchar(255) NOT NULL,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`status` varchar(8) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`attempt` int NOT NULL,
	`duration_ms` int,
	`message` text,
	`file` text,
	`line` int,
	`runs` int NOT NULL,
	`failures` int NOT NULL,
	CONSTRAINT `job_cases_pk` PRIMARY KEY(`job_id`,`case_key`)
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `outputs_ref` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `shard_index` int;--> statement-breakpoint
ALTER TABLE `tasks` ADD `shard_count` int;--> statement-breakpoint
CREATE INDEX `cases_job_key_idx` ON `cases` (`job_id`,`case_key`);--> statement-breakpoint
CREATE INDEX `cases_history_idx` ON `cases` (`case_key`,`reported_at`);--> statement-breakpoint
CREATE INDEX `job_cases_seq_idx` ON `job_cases` (`job_id`,`seq`);--> statement-breakpoint
CREATE INDEX `job_cases_status_idx` ON `job_cases` (`job_id`,`status`,`seq`);