//! The jobs: what one is, what it does, and the table that says which run.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use supervisor::tables::SqliteTable;
use supervisor::{BoxError, Context, Runnable};

/// One job, as `POST /jobs/{key}` takes it (every field optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Job {
    /// Seconds between two runs.
    pub every_secs: u64,
    /// Fail on this run (1 = the first), to see a keyed child restart.
    pub fail_on_run: Option<u32>,
}

impl Default for Job {
    fn default() -> Self {
        Job {
            every_secs: 2,
            fail_on_run: None,
        }
    }
}

impl Job {
    /// Why this job cannot run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.every_secs) {
            return Err(format!(
                "`every_secs` must be 1 to 86400, not {}",
                self.every_secs
            ));
        }
        if self.fail_on_run == Some(0) {
            return Err("`fail_on_run` counts from 1".into());
        }
        Ok(())
    }
}

/// The child that runs the job under `key`: healthy at once, then one run
/// every `every_secs`, until it is stopped (or fails on `fail_on_run`).
pub fn job(key: &str, job: &Job) -> impl Runnable {
    let (key, job) = (key.to_owned(), job.clone());
    move |ctx: Context| {
        let (key, job) = (key.clone(), job.clone());
        async move {
            ctx.healthy();
            for run in 1u32.. {
                if ctx.sleep(Duration::from_secs(job.every_secs)).await {
                    return Ok(());
                }
                tracing::info!(job = %key, run, "ran");
                if job.fail_on_run == Some(run) {
                    return Err(BoxError::from(format!("run {run} failed, as asked")));
                }
            }
            Ok(())
        }
    }
}

/// Keys as the tree takes them: 1–64 characters of `a-z`, `0-9`, `_`, `-`.
pub fn check_key(key: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a job key: use 1 to 64 characters of a-z, 0-9, `_` and `-`"
        ))
    }
}

/// The table the jobs group follows: one SQLite file, so that the jobs
/// outlive the demo. Swapping the kind of table is this line and [`open`].
pub type JobTable = SqliteTable<Job>;

/// The opened table, where it lives, and whether it was just created.
pub struct Opened {
    pub table: JobTable,
    pub location: String,
    pub created: bool,
}

/// Opens the jobs' table in `file`, creating it on first use.
pub async fn open(file: &Path) -> Result<Opened, BoxError> {
    let created = !file.exists();
    let table = SqliteTable::open(file).await?;
    Ok(Opened {
        location: table.path().display().to_string(),
        table,
        created,
    })
}

/// Adds or replaces a job; acknowledged means stored.
pub async fn put(table: &JobTable, key: &str, job: &Job) -> Result<(), BoxError> {
    Ok(table.insert(key, job).await?)
}

/// Removes a job.
pub async fn delete(table: &JobTable, key: &str) -> Result<(), BoxError> {
    Ok(table.remove(key).await?)
}
