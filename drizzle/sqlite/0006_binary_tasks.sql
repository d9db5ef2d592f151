CREATE TABLE `binary_tasks` (
	`test_binary` text NOT NULL,
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`task_index` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`job_id`, `task_id`),
	FOREIGN KEY (`job_id`,`task_id`) REFERENCES `tasks`(`job_id`,`task_id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
-- Written by hand: the tasks stored before this table, each with its binary as model.ts taskBinary derives it (a shard's description without its `.<shard_index>`).
INSERT INTO `binary_tasks` (`test_binary`, `job_id`, `task_id`, `task_index`, `created_at`)
SELECT CASE
    WHEN t.`shard_index` IS NOT NULL AND t.`shard_count` IS NOT NULL AND substr(t.`description`, -length('.' || t.`shard_index`)) = '.' || t.`shard_index`
    THEN substr(t.`description`, 1, length(t.`description`) - length('.' || t.`shard_index`))
    ELSE t.`description` END,
  t.`job_id`, t.`task_id`, t.`task_index`, j.`created_at`
FROM `tasks` t JOIN `jobs` j ON j.`id` = t.`job_id`;
--> statement-breakpoint
CREATE INDEX `binary_tasks_history_idx` ON `binary_tasks` (`test_binary`,`created_at`,`job_id`,`task_index`,`task_id`);