-- The telemetry projections. Every table is a ReplacingMergeTree whose
-- sorting key identifies a row by the event it came from, so replaying the
-- streams inserts the same rows again and they collapse into one: queries
-- read with FINAL (or argMax) and see identical tables after any number of
-- replays. Tables with a time are partitioned by month and sorted for the
-- queries the API asks: everything of one project, then one mailbox, in
-- time order.

-- Projects, for joins by platform and name (from project.project_created).
CREATE TABLE IF NOT EXISTS projects (
	project_id String,
	account_id String,
	name String,
	source_platform LowCardinality(String),
	destination_platform LowCardinality(String),
	created_at DateTime64(3, 'UTC'),
	event_id String
) ENGINE = ReplacingMergeTree
ORDER BY project_id;

-- One row per progress.mailbox event: counters are the mailbox's totals so
-- far, folder the one being copied when the snapshot was taken.
CREATE TABLE IF NOT EXISTS mailbox_progress (
	at DateTime64(3, 'UTC'),
	account_id String,
	project_id String,
	run_id String,
	source_id String,
	source_address String,
	state LowCardinality(String),
	health LowCardinality(String),
	retry_after_ms UInt64,
	folder String,
	items UInt64,
	bytes UInt64,
	total_items UInt64,
	failed UInt64,
	updated UInt64,
	deleted UInt64,
	event_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (project_id, run_id, source_id, at, event_id);

-- The chronological log of runs and mailboxes: state changes, errors with
-- code, cause and action, throttling episodes, retries, resumes, items
-- that did not move. Run-level lines have an empty source_id.
CREATE TABLE IF NOT EXISTS mailbox_log (
	at DateTime64(3, 'UTC'),
	account_id String,
	project_id String,
	run_id String,
	source_id String,
	source_address String,
	level LowCardinality(String),
	kind LowCardinality(String),
	message String,
	code LowCardinality(String),
	cause String,
	action String,
	retry_after_ms UInt64,
	items UInt64,
	bytes UInt64,
	event_id String,
	line UInt32
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (project_id, source_id, at, event_id, line);

-- One row per item and run: what happened to it. An item handled twice in
-- one run (a resumed mailbox repeats the items after its checkpoint) keeps
-- its latest outcome.
CREATE TABLE IF NOT EXISTS item_ledger (
	at DateTime64(3, 'UTC'),
	account_id String,
	project_id String,
	run_id String,
	source_id String,
	source_address String,
	folder_id String,
	folder String,
	item_id String,
	kind LowCardinality(String),
	outcome LowCardinality(String),
	code LowCardinality(String),
	reason String,
	destination_id String,
	content_hash String,
	size UInt64,
	event_id String
) ENGINE = ReplacingMergeTree(at)
PARTITION BY toYYYYMM(at)
ORDER BY (project_id, source_id, run_id, folder_id, item_id);

-- How far each stream has been written, so a restart skips inserting what
-- is already there (the projection still replays to rebuild its state).
CREATE TABLE IF NOT EXISTS ingest_position (
	stream String,
	seq UInt64
) ENGINE = ReplacingMergeTree(seq)
ORDER BY stream;
