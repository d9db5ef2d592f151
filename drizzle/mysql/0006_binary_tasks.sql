CREATE TABLE `binary_tasks` (
	`test_binary` varchar(255) NOT NULL,
	`job_id` varchar(100) NOT NULL,
	`task_id` varchar(200) NOT NULL,
	`task_index` int NOT NULL,
	`created_at` bigint NOT NULL,
	CONSTRAINT `binary_tasks_pk` PRIMARY KEY(`job_id`,`task_id`)
);
--> statement-breakpoint
-- Written by hand: the tasks stored before this table, each with its binary as model.ts taskBinary derives it (a shard's description without its `.<shard_index>`).
-- Those already copied are left out, so that a start that resumes here after a crash copies the rest.
INSERT INTO `binary_tasks` (`test_binary`, `job_id`, `task_id`, `task_index`, `created_at`)
SELECT CASE
    WHEN t.`shard_index` IS NOT NULL AND t.`shard_count` IS NOT NULL AND RIGHT(t.`description`, CHAR_LENGTH(CONCAT('.', t.`shard_index`))) = CONCAT('.', t.`shard_index`)
    THEN LEFT(t.`description`, CHAR_LENGTH(t.`description`) - CHAR_LENGTH(CONCAT('.', t.`shard_index`)))
    ELSE t.`description` END,
  t.`job_id`, t.`task_id`, t.`task_index`, j.`created_at`
FROM `tasks` t JOIN `jobs` j ON j.`id` = t.`job_id`
WHERE NOT EXISTS (SELECT 1 FROM `binary_tasks` b WHERE b.`job_id` = t.`job_id` AND b.`task_id` = t.`task_id`);
--> statement-breakpoint
ALTER TABLE `binary_tasks` ADD CONSTRAINT `binary_tasks_task_fk` FOREIGN KEY (`job_id`,`task_id`) REFERENCES `tasks`(`job_id`,`task_id`) ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `binary_tasks_history_idx` ON `binary_tasks` (`test_binary`,`created_at`,`job_id`,`task_index`,`task_id`);