//! `POST /v1/suites/{id}/learn` in process, over `tracepipe serve`'s router
//! and a SQLite control plane: recordings uploaded through the router, their
//! Examples finished as the serve processor finishes them, their reviews
//! completed with the recordings' labels, then learned from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::openapi::tests::serve_state;
use crate::api::{router, ApiState};
use crate::control::reviews::{Decision, Origin, Review, ReviewItem, ReviewOutcome, ReviewState};
use crate::control::sqlite::{complete_example, Completion, Db};
use crate::control::ExampleFilter;
use crate::serve::config::{Overrides, ServeConfig};
use crate::test_client;
use crate::test_dispatch::KeepPending;

struct Serve {
    app: axum::Router,
    state: Arc<ApiState>,
    db: Db,
    admin: String,
    gmail: String,
    _data: tempfile::TempDir,
}

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/recordings")
}

async fn serve() -> Serve {
    let data = tempfile::tempdir().expect("a temporary folder");
    let config = ServeConfig::load(None, [], &Overrides::default()).expect("configuration");
    let (state, admin) = serve_state(data.path(), &config).await;
    let Ok(state) = Arc::try_unwrap(state) else {
        panic!("the state has one owner")
    };
    let state = Arc::new(ApiState {
        dispatch: Arc::new(KeepPending),
        ..state
    });
    let gmail = state
        .catalog
        .snapshot()
        .catalog
        .suite("gmail")
        .expect("the gmail suite")
        .id
        .to_string();
    Serve {
        app: router(state.clone()),
        db: Db::open(&data.path().join("tracepipe.db")).expect("the database"),
        state,
        admin,
        gmail,
        _data: data,
    }
}

impl Serve {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        test_client::send(&self.app, request).await
    }

    async fn post(&self, key: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.send(test_client::post_json(key, uri, &body)).await
    }

    async fn learn(&self, key: &str, suite: &str, body: Value) -> (StatusCode, Value) {
        self.post(key, &format!("/v1/suites/{suite}/learn"), body)
            .await
    }

    /// Uploads `scenario`'s recording into gmail; the session id.
    async fn upload(&self, key: &str, scenario: &str) -> Uuid {
        let file = format!("{scenario}.trace.json.gz");
        let bytes = std::fs::read(recordings().join(&file)).expect("the fixture");
        let boundary = "tracepipe-learn-test-boundary";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\n{}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"input_events\"; filename=\"{file}\"\r\n\
                 Content-Type: application/gzip\r\n\r\n",
                self.gmail
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (status, answer) = self
            .send(
                Request::post("/v1/sessions")
                    .header("X-API-Key", key)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(Body::from(body))
                    .expect("a request"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("a session id")
    }

    /// Finishes the session's Example as the processor does, and completes
    /// its review with `calls` (tool, arguments) as the reviewer's.
    async fn review(&self, key_owner: Uuid, session: Uuid, calls: &[(String, Value)]) {
        let (examples, _) = self
            .state
            .control
            .list_examples(
                key_owner,
                &ExampleFilter {
                    session_id: Some(session),
                    ..ExampleFilter::default()
                },
                crate::control::Page {
                    page: 1,
                    per_page: 10,
                },
            )
            .await
            .expect("examples");
        let example = examples.first().expect("one Example per upload").clone();
        let completion = Completion {
            storage_path: format!("examples/{}/messages.jsonl", example.id),
            action_tool_map_id: example.action_tool_map_id.unwrap_or_else(Uuid::new_v4),
            tool_calls: 0,
            rejected_calls: 0,
            tokens: 0,
            messages_bytes: 0,
            example_row: "{}".into(),
            action_rows: "[]".into(),
        };
        let id = example.id;
        self.db
            .call(move |conn| complete_example(conn, id, &completion))
            .await
            .expect("finished");
        let items = calls
            .iter()
            .enumerate()
            .map(|(i, (tool, arguments))| ReviewItem {
                index: i as u32,
                origin: Origin::Added,
                decision: Decision::Confirmed,
                action: tool.clone(),
                tool: tool.clone(),
                arguments: arguments.clone(),
                confidence: None,
                low_confidence: false,
                start_ms: i as f64,
                end_ms: i as f64,
                evidence: Vec::new(),
            })
            .collect();
        let review = Review {
            example_id: example.id,
            session_id: session,
            user_id: key_owner,
            suite_id: example.suite_id,
            state: ReviewState::Open,
            items,
            updated_at: None,
        };
        let control = self.state.control.as_ref();
        control
            .open_review(&review, &example.created_at)
            .await
            .expect("opened");
        assert!(control
            .complete_review(
                key_owner,
                example.id,
                &ReviewOutcome {
                    tool_calls: calls.len() as i64,
                    rejected_calls: 0,
                    messages_bytes: 0,
                },
            )
            .await
            .expect("completed"));
    }

    async fn user_of(&self, key: &str) -> Uuid {
        let (status, me) = self
            .send(
                Request::get("/v1/users/me")
                    .header("X-API-Key", key)
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        me["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id")
    }

    /// Uploads `scenario` as `key`'s and reviews it with its labels; the session.
    async fn demonstrate(&self, key: &str, scenario: &str) -> Uuid {
        let labels: Value = serde_json::from_slice(
            &std::fs::read(recordings().join(format!("{scenario}.expected.json"))).expect("labels"),
        )
        .expect("JSON labels");
        let calls: Vec<(String, Value)> = labels["tool_calls"]
            .as_array()
            .expect("tool calls")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["arguments"].clone(),
                )
            })
            .collect();
        let session = self.upload(key, scenario).await;
        self.review(self.user_of(key).await, session, &calls).await;
        session
    }

    /// A new user's key.
    async fn user(&self, is_admin: bool) -> String {
        let (status, created) = self
            .post(
                &self.admin,
                "/v1/users",
                json!({"display_name": "another", "is_admin": is_admin}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["api_key"]["key"]
            .as_str()
            .expect("the key")
            .to_owned()
    }
}

/// Three label-editing and deleting recordings, each action shown twice or more.
const DEMONSTRATIONS: [&str; 4] = [
    "delete_message",
    "batch_delete",
    "create_label",
    "delete_label",
];

#[tokio::test]
async fn a_suite_is_learned_from_reviewed_sessions_and_written_to_the_catalog() {
    let serve = serve().await;
    let admin = serve.admin.clone();

    // Nothing reviewed yet: nothing to learn from.
    let (status, refused) = serve
        .learn(&admin, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "no_reviewed_sessions");

    let mut sessions = Vec::new();
    for scenario in DEMONSTRATIONS {
        sessions.push(serve.demonstrate(&admin, scenario).await);
    }
    // Uploaded but not reviewed: not learned from.
    let unreviewed = serve.upload(&admin, "send_simple").await;

    let (status, learned) = serve
        .learn(&admin, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{learned}");
    assert_eq!(learned["suite"]["name"], "mail_learned");
    let learned_from: Vec<Uuid> =
        serde_json::from_value(learned["session_ids"].clone()).expect("session ids");
    assert_eq!(
        learned_from, sessions,
        "the reviewed sessions, oldest first"
    );
    assert!(!learned_from.contains(&unreviewed));
    let report = &learned["report"];
    assert_eq!(report["demonstrations"], 4, "{report}");
    let delete = report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["tool"] == "delete_email")
        .unwrap_or_else(|| panic!("delete_email learned: {report}"));
    let demonstrated: Vec<&str> = delete["demonstrations"]
        .as_array()
        .expect("demonstrations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        demonstrated
            .iter()
            .any(|d| d.contains(&sessions[0].to_string()) && d.contains("(delete_message)")),
        "demonstrations are named by session and recording: {demonstrated:?}"
    );
    assert!(delete["arguments"][0]["evidence"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(
        delete["leave_one_out"]["calls"].as_u64() >= Some(1),
        "{delete}"
    );
    let rules = &learned["files"]["suites/mail_learned/rules.json"];
    assert_eq!(rules["suite"], "mail_learned", "{learned}");
    assert_eq!(
        learned["files"]["suites/mail_learned/suite.json"]["name"],
        "mail_learned"
    );
    assert_eq!(
        learned["files"]["suites/mail_learned/maps/gmail.json"]["mcp_server"],
        "gmail"
    );
    assert_eq!(learned["map"]["suite_id"], learned["suite"]["id"]);

    // The suite, its map and its rules are in the catalog: listed, and a
    // model classifies it.
    let snapshot = serve.state.catalog.snapshot();
    let suite = snapshot.catalog.suite("mail_learned").expect("stored");
    assert!(snapshot
        .catalog
        .action_tool_map("mail_learned", "gmail")
        .is_some());
    assert!(snapshot.files.rules.contains_key("mail_learned"));
    assert!(snapshot.models.default_for(suite.id).is_some());

    // Not again under that name unless asked to replace it.
    let (status, refused) = serve
        .learn(&admin, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "suite_exists");
    let (status, replaced) = serve
        .learn(
            &admin,
            &serve.gmail,
            json!({"name": "mail_learned", "replace": true, "session_ids": [sessions[0], sessions[2]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{replaced}");
    assert_eq!(replaced["report"]["demonstrations"], 2);
    assert_eq!(replaced["suite"]["id"], learned["suite"]["id"]);

    // Never over a built-in suite, replace or not.
    let (status, refused) = serve
        .learn(&admin, "gmail", json!({"name": "gmail", "replace": true}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "builtin_suite");
}

#[tokio::test]
async fn learning_is_refused_clearly() {
    let serve = serve().await;
    let admin = serve.admin.clone();
    let session = serve.demonstrate(&admin, "delete_message").await;

    let cases = [
        (
            json!({"name": "mail_learned", "mcp_server": "no_such_server"}),
            "unknown_mcp_server",
            Some("mcp_server"),
        ),
        (
            json!({"name": "Not A Name"}),
            "validation_error",
            Some("name"),
        ),
        (
            json!({"name": "mail_learned", "session_ids": [Uuid::new_v4()]}),
            "not_reviewed",
            Some("session_ids/0"),
        ),
        // The reviewed calls are Gmail's; playwright has none of them.
        (
            json!({"name": "mail_learned", "mcp_server": "playwright"}),
            "unknown_tool",
            Some("mcp_server"),
        ),
    ];
    for (body, code, field) in cases {
        let (status, refused) = serve.learn(&admin, "gmail", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {refused}"
        );
        assert_eq!(refused["error"]["code"], code, "{body}: {refused}");
        assert_eq!(
            refused["error"]["field"].as_str(),
            field,
            "{body}: {refused}"
        );
    }
    let (status, refused) = serve
        .learn(&admin, "no_such_suite", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    // The same step labelled as two tools: refused, naming both sessions
    // and the time.
    let second = serve.upload(&admin, "delete_message").await;
    let labels = [
        (
            "read_email".to_owned(),
            json!({"messageId": "18c2f0a1b2c3d4e5"}),
        ),
        (
            "modify_email".to_owned(),
            json!({"messageId": "18c2f0a1b2c3d4e5"}),
        ),
    ];
    serve
        .review(serve.user_of(&admin).await, second, &labels)
        .await;
    let (status, refused) = serve
        .learn(&admin, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["error"]["code"], "contradictory_labels",
        "{refused}"
    );
    let message = refused["error"]["message"].as_str().expect("a message");
    for named in [session.to_string(), second.to_string(), " ms".to_owned()] {
        assert!(message.contains(&named), "{named} in {message}");
    }
    assert!(serve
        .state
        .catalog
        .snapshot()
        .catalog
        .suite("mail_learned")
        .is_none());
}

#[tokio::test]
async fn a_caller_learns_only_from_their_own_sessions_and_only_as_an_administrator() {
    let serve = serve().await;
    let admin = serve.admin.clone();
    let session = serve.demonstrate(&admin, "delete_message").await;

    let user = serve.user(false).await;
    let (status, refused) = serve
        .learn(&user, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    // Another administrator sees none of the first one's reviewed sessions.
    let other_admin = serve.user(true).await;
    let (status, refused) = serve
        .learn(&other_admin, "gmail", json!({"name": "mail_learned"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "no_reviewed_sessions");
    let (status, refused) = serve
        .learn(
            &other_admin,
            "gmail",
            json!({"name": "mail_learned", "session_ids": [session]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "not_reviewed");
}
