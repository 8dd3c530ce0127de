//! The demo's HTTP API, next to the live view:
//!
//! | request | what |
//! |---|---|
//! | `GET /jobs` | the jobs in the table, with the state of each one's child |
//! | `POST /jobs/{key}` | adds or replaces a job; body: optional JSON `{"every_secs": 2, "fail_on_run": 3}` |
//! | `DELETE /jobs/{key}` | removes a job: its child stops and is not restarted |
//! | `POST /flaky/fail` | makes `app.flaky` fail now, to watch it restart |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use supervisor::{DynamicGroup, NodeState, Table, TreeHandle};
use tokio::sync::watch;

use crate::jobs::{self, Job, JobTable};

/// What the handlers reach.
#[derive(Clone)]
pub struct Api {
    pub handle: TreeHandle,
    pub table: JobTable,
    pub jobs: DynamicGroup,
    pub flaky: Arc<watch::Sender<u64>>,
}

pub fn routes(api: Api) -> Router {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{key}", post(put).delete(delete))
        .route("/flaky/fail", post(fail_flaky))
        .with_state(api)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn list(State(api): State<Api>) -> Response {
    match api.table.load().await {
        Ok(entries) => {
            let jobs: Vec<_> = entries
                .iter()
                .map(|(key, job)| {
                    json!({
                        "key": key,
                        "node": format!("app.jobs.{key}"),
                        "every_secs": job.every_secs,
                        "fail_on_run": job.fail_on_run,
                        "state": api.jobs.get(key).map(NodeState::as_str),
                    })
                })
                .collect();
            Json(jobs).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the jobs: {e}"),
        ),
    }
}

async fn put(State(api): State<Api>, Path(key): Path<String>, body: Bytes) -> Response {
    if let Err(msg) = jobs::check_key(&key) {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let job = if body.iter().all(u8::is_ascii_whitespace) {
        Job::default()
    } else {
        match serde_json::from_slice::<Job>(&body) {
            Ok(job) => job,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "the body is not a job ({e}); send nothing, or JSON such as \
                         {{\"every_secs\": 5, \"fail_on_run\": 3}}"
                    ),
                )
            }
        }
    };
    if let Err(msg) = job.check() {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let existed = matches!(api.table.get(&key).await, Ok(Some(_)));
    if let Err(e) = jobs::put(&api.table, &key, &job).await {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the job was not stored: {e}"),
        );
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({ "key": key, "node": format!("app.jobs.{key}"), "job": job });
    (status, Json(body)).into_response()
}

async fn delete(State(api): State<Api>, Path(key): Path<String>) -> Response {
    match api.table.get(&key).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("there is no job `{key}`; GET /jobs lists them"),
            )
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read the jobs: {e}"),
            )
        }
    }
    match jobs::delete(&api.table, &key).await {
        Ok(()) => Json(json!({ "removed": key })).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the job was not removed: {e}"),
        ),
    }
}

async fn fail_flaky(State(api): State<Api>) -> Response {
    let snap = api.handle.snapshot();
    let state = snap.node("app.flaky").map(|n| n.state);
    if state != Some(NodeState::Healthy) {
        let now = state.map_or("missing", NodeState::as_str);
        return error(
            StatusCode::CONFLICT,
            format!("app.flaky is {now}, not running; try again once it is healthy"),
        );
    }
    api.flaky.send_modify(|n| *n += 1);
    (
        StatusCode::ACCEPTED,
        Json(json!({ "failing": "app.flaky", "watch": "/" })),
    )
        .into_response()
}
