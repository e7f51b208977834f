//! Upkeep of the embedded engine's stream records, which dynoxide keeps in
//! one SQLite table, `_stream_records`, with no index but its row id.
//!
//! Every write to a streamed table asks for the next sequence number with
//! `MAX(CAST(sequence_number AS INTEGER)) ... WHERE table_name = ?`, and every
//! `GetRecords` filters on `table_name`, `shard_id` and the same expression
//! (dynoxide 3.2, `storage.rs`). Without an index each of those reads every
//! stream record ever written, so writes slow down as the stream grows. The
//! two indexes below serve those exact expressions (SQLite matches an index
//! on an expression only when the query spells it the same way; the tests
//! check the plans).
//!
//! DynamoDB Streams keeps records for 24 hours; dynoxide keeps them forever.
//! [`trim`] drops older ones, at start-up and every hour while running.
//!
//! Only a file-backed engine can be reached from outside dynoxide; the
//! in-memory one (`--in-memory`, most tests) runs without this.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// How long DynamoDB Streams keeps a record.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often a running engine drops expired records.
pub const TRIM_EVERY: Duration = Duration::from_secs(60 * 60);

const INDEXES: &str = "
    CREATE INDEX IF NOT EXISTS chat_stream_records_next
        ON _stream_records (table_name, CAST(sequence_number AS INTEGER));
    CREATE INDEX IF NOT EXISTS chat_stream_records_read
        ON _stream_records (table_name, shard_id, CAST(sequence_number AS INTEGER));";

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // dynoxide holds the file too; wait for its write lock, never fail on it.
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Creates the indexes (once; later starts find them) and trims.
pub fn prepare(path: &Path) -> rusqlite::Result<usize> {
    let conn = open(path)?;
    conn.execute_batch(INDEXES)?;
    trim_with(&conn)
}

/// Drops the records older than [`RETENTION`]; returns how many.
pub fn trim(path: &Path) -> rusqlite::Result<usize> {
    trim_with(&open(path)?)
}

fn trim_with(conn: &Connection) -> rusqlite::Result<usize> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // dynoxide stamps `created_at` in epoch seconds.
    let cutoff = now.saturating_sub(RETENTION).as_secs() as i64;
    conn.execute(
        "DELETE FROM _stream_records WHERE created_at < ?1",
        [cutoff],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("; ")
    }

    /// A scratch directory, removed when the test ends, passed or not.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn engine_file() -> (Scratch, std::path::PathBuf, dynoxide::Database) {
        let dir =
            std::env::temp_dir().join(format!("chat-stream-records-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chat.sqlite");
        let db = dynoxide::Database::new(&path.to_string_lossy()).unwrap();
        (Scratch(dir), path, db)
    }

    /// The engine's own statements (dynoxide 3.2, storage.rs), as it runs them.
    #[test]
    fn the_engines_stream_queries_use_the_indexes() {
        let (_dir, path, _db) = engine_file();
        prepare(&path).unwrap();
        let conn = open(&path).unwrap();
        let next = plan(
            &conn,
            "SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records WHERE table_name = 'T'",
        );
        assert!(next.contains("chat_stream_records_next"), "{next}");
        let read = plan(
            &conn,
            "SELECT event_name FROM _stream_records WHERE table_name = 'T' AND shard_id = 's' AND CAST(sequence_number AS INTEGER) > 5 ORDER BY CAST(sequence_number AS INTEGER) ASC LIMIT 100",
        );
        assert!(read.contains("chat_stream_records_read"), "{read}");
        assert!(!read.contains("TEMP B-TREE"), "no sort: {read}");
        let range = plan(
            &conn,
            "SELECT MIN(CAST(sequence_number AS INTEGER)), MAX(CAST(sequence_number AS INTEGER)) FROM _stream_records WHERE table_name = 'T' AND shard_id = 's'",
        );
        assert!(range.contains("chat_stream_records"), "{range}");
    }

    #[test]
    fn records_older_than_a_day_are_trimmed_and_newer_ones_kept() {
        let (_dir, path, _db) = engine_file();
        let conn = open(&path).unwrap();
        let now = chrono::Utc::now().timestamp();
        for (seq, age) in [(1, 25 * 3600), (2, 23 * 3600), (3, 0)] {
            conn.execute(
                "INSERT INTO _stream_records (table_name, event_name, keys_json, sequence_number, shard_id, created_at) VALUES ('T', 'INSERT', '{}', ?1, 's', ?2)",
                rusqlite::params![seq.to_string(), now - age],
            )
            .unwrap();
        }
        assert_eq!(prepare(&path).unwrap(), 1);
        let left: Vec<String> = conn
            .prepare("SELECT sequence_number FROM _stream_records ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, ["2", "3"]);
        assert_eq!(trim(&path).unwrap(), 0);
    }
}
