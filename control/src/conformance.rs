#![cfg(test)]

//! The conformance suite every [`ControlPlane`] passes: one `pub async fn`
//! per behaviour, run against the SQLite implementation (`sqlite.rs`) and the
//! PostgreSQL one (`postgres.rs`), so the `/v1` API answers the same over
//! both.
//!
//! Each test makes its own users, suites and models with random ids and
//! asserts counts relative to what it found, so it holds on any backend it is
//! given alone; the harnesses give each test a fresh one (a temporary SQLite
//! file, a new PostgreSQL schema), because the catalog and the user count are
//! the deployment's, not a user's. [`each_conformance_test!`] makes one
//! `#[tokio::test]` per function from a harness; those that need an Example
//! finished (which is not the API's to do) take the implementation's way of
//! finishing one as [`FinishExample`], which the harness gives too.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use super::callbacks::CallbackOutcome;
use super::deposits::Deposit;
use super::reviews::{
    DayCounts, Decision, Origin, QueueEntry, Review, ReviewItem, ReviewOutcome, ReviewState,
};
use super::{
    now, timestamp, ApiKey, CatalogFile, ControlPlane, ExampleFilter, ExampleRecord, NewUpload,
    Page, SessionRecord, Status, StoredCatalog, StoredObject, UploadOutcome, User,
};

/// What a processor records when an Example is finished.
#[derive(Debug, Clone)]
pub struct Finished {
    pub storage_path: String,
    pub tool_calls: i64,
    pub rejected_calls: i64,
    pub tokens: i64,
    pub messages_bytes: i64,
}

/// How an implementation marks an Example COMPLETED, at the current time
/// (the embedded worker's write, the gateway's status consumer's).
#[async_trait]
pub trait FinishExample: Sync {
    async fn finish(&self, example: Uuid, finished: &Finished);
}

/// One `#[tokio::test]` per conformance function. `$harness` is an
/// `async fn(impl FnOnce(Arc<dyn ControlPlane>, Arc<dyn FinishExample>) ->
/// impl Future<Output = ()>)` that runs the test on a fresh backend, with that
/// backend's way of finishing an Example.
macro_rules! each_conformance_test {
    ($harness:ident) => {
        $crate::conformance::each_conformance_test!(@tests $harness;
            users_are_created_with_their_first_key,
            keys_carry_their_suites,
            api_keys_are_listed_live_oldest_first_per_user,
            authenticate_refuses_revoked_keys_and_records_use,
            sessions_are_listed_newest_first_per_user_and_suite,
            uploads_are_stored_whole,
            idempotency_keys_name_one_session_per_user,
            examples_are_listed_newest_first_with_filters,
            existing_sessions_and_sessions_of_suite_span_users,
            catalog_is_replaced_whole_at_its_version,
            timestamps_are_rfc3339_utc_with_milliseconds,
            reviews_record_decisions_until_completed,
            the_review_queue_puts_low_confidence_first,
            deposits_are_stored_with_their_example_and_settled_once,
        );
        $crate::conformance::each_conformance_test!(@finishing $harness;
            finished_examples_show_their_results,
            usage_counts_what_the_period_holds,
            unreviewed_examples_are_completed_ones_without_a_review,
            daily_usage_counts_each_day,
            callbacks_are_claimed_once_finished_until_delivered,
        );
    };
    (@tests $harness:ident; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $harness(|control, _finish| async move {
                    $crate::conformance::$name(&*control).await
                })
                .await;
            }
        )*
    };
    (@finishing $harness:ident; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $harness(|control, finish| async move {
                    $crate::conformance::$name(&*control, &*finish).await
                })
                .await;
            }
        )*
    };
}
pub(crate) use each_conformance_test;

// ------------------------------------------------------------------ fixtures

/// A fixed time long past, so that fixture times never meet the real clock
/// (Examples complete at the current time).
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2001, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid date")
}

/// The base time plus `secs`, as stored.
fn at(secs: i64) -> String {
    timestamp(base() + Duration::seconds(secs))
}

fn page(page: u32, per_page: u32) -> Page {
    Page { page, per_page }
}

fn random_hash() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn new_key(created_at: String, name: Option<&str>) -> ApiKey {
    let id = Uuid::new_v4();
    ApiKey {
        id,
        name: name.map(str::to_owned),
        masked: format!("tp_live_{}…{}", &id.simple().to_string()[..4], "x9Z"),
        created_at,
        last_used_at: None,
        revoked_at: None,
        suite_ids: None,
    }
}

/// A new user with its first key; the key's hash authenticates it.
async fn new_user(control: &dyn ControlPlane, name: &str) -> (User, ApiKey, String) {
    let user = User {
        id: Uuid::new_v4(),
        display_name: name.to_owned(),
        is_admin: false,
        created_at: at(0),
    };
    let key = new_key(at(0), None);
    let hash = random_hash();
    control
        .insert_user(&user, &key, &hash)
        .await
        .expect("insert_user");
    (user, key, hash)
}

fn new_session(user: Uuid, suite: Uuid, created_at: String) -> SessionRecord {
    let id = Uuid::new_v4();
    SessionRecord {
        id,
        user_id: user,
        suite_id: suite,
        description: None,
        created_at,
        storage_path: format!("sessions/{id}/input_events.jsonl"),
        source_format: "CHROME_TRACE".into(),
        size_bytes: 100,
        event_count: 3,
        source_name: None,
        source_sha256: None,
        capture: "script".into(),
    }
}

fn new_example(session: &SessionRecord, model: Uuid, created_at: String) -> ExampleRecord {
    ExampleRecord {
        id: Uuid::new_v4(),
        session_id: session.id,
        user_id: session.user_id,
        suite_id: session.suite_id,
        model_id: model,
        action_tool_map_id: None,
        model_configuration: json!({}),
        storage_path: None,
        status: Status::Pending,
        error: None,
        tool_calls: None,
        rejected_calls: None,
        reviewed: false,
        callback_url: None,
        created_at: created_at.clone(),
        updated_at: created_at,
    }
}

/// Stores `session` with `example`, with no idempotency key.
async fn store(
    control: &dyn ControlPlane,
    session: &SessionRecord,
    example: Option<&ExampleRecord>,
) {
    let outcome = control
        .insert_upload(&NewUpload {
            session: session.clone(),
            idempotency: None,
            example: example.cloned(),
            unread: None,
        })
        .await
        .expect("insert_upload");
    assert_eq!(outcome, UploadOutcome::Stored);
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}

/// RFC 3339, UTC, milliseconds, `Z`: what [`timestamp`] makes.
fn assert_timestamp(text: &str) {
    let parsed = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"));
    assert_eq!(
        timestamp(parsed.with_timezone(&Utc)),
        text,
        "`{text}` is not UTC with milliseconds and Z"
    );
}

// ------------------------------------------------------------ users and keys

pub async fn users_are_created_with_their_first_key(control: &dyn ControlPlane) {
    let before = control.user_count().await.expect("user_count");
    let (a, key, hash) = new_user(control, "a").await;
    assert_eq!(control.user_count().await.expect("user_count"), before + 1);
    assert_eq!(
        control
            .authenticate(&hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        Some(a.clone())
    );
    let admin = User {
        id: Uuid::new_v4(),
        display_name: "admin".into(),
        is_admin: true,
        created_at: at(5),
    };
    let admin_hash = random_hash();
    control
        .insert_user(&admin, &new_key(at(5), Some("first")), &admin_hash)
        .await
        .expect("insert_user");
    assert_eq!(
        control
            .authenticate(&admin_hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        Some(admin)
    );
    let (keys, total) = control
        .list_api_keys(a.id, page(1, 10))
        .await
        .expect("list_api_keys");
    assert_eq!(total, 1);
    assert_eq!(keys[0].id, key.id);
    assert_eq!(keys[0].masked, key.masked);

    // A user whose key cannot be stored (its hash is taken) is not stored
    // either: the two are written together.
    let lost = User {
        id: Uuid::new_v4(),
        display_name: "lost".into(),
        is_admin: false,
        created_at: at(10),
    };
    assert!(control
        .insert_user(&lost, &new_key(at(10), None), &hash)
        .await
        .is_err());
    assert_eq!(control.user_count().await.expect("user_count"), before + 2);
    assert_eq!(
        control
            .authenticate(&hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        Some(a.clone())
    );
    // Nor is a second key with a hash already in use.
    assert!(control
        .insert_api_key(a.id, &new_key(at(20), None), &admin_hash)
        .await
        .is_err());
    assert_eq!(
        control
            .list_api_keys(a.id, page(1, 10))
            .await
            .expect("list_api_keys")
            .1,
        1
    );
}

pub async fn api_keys_are_listed_live_oldest_first_per_user(control: &dyn ControlPlane) {
    let (a, first, _) = new_user(control, "a").await;
    let (b, b_key, _) = new_user(control, "b").await;
    let mut keys = vec![first];
    // Out of order, and two at the same time (then ordered by id).
    for (secs, name) in [
        (30, Some("ci")),
        (10, None),
        (20, Some("laptop")),
        (40, None),
        (40, None),
    ] {
        let key = new_key(at(secs), name);
        control
            .insert_api_key(a.id, &key, &random_hash())
            .await
            .expect("insert_api_key");
        keys.push(key);
    }
    keys.sort_by(|x, y| (&x.created_at, x.id).cmp(&(&y.created_at, y.id)));

    let mut listed = Vec::new();
    for number in 1..=3 {
        let (items, total) = control
            .list_api_keys(a.id, page(number, 2))
            .await
            .expect("list_api_keys");
        assert_eq!(total, 6);
        assert_eq!(items.len(), 2, "page {number}");
        listed.extend(items);
    }
    assert_eq!(listed, keys, "every field, oldest first");
    let (beyond, total) = control
        .list_api_keys(a.id, page(4, 2))
        .await
        .expect("list_api_keys");
    assert!(beyond.is_empty());
    assert_eq!(total, 6);

    let (theirs, total) = control
        .list_api_keys(b.id, page(1, 50))
        .await
        .expect("list_api_keys");
    assert_eq!((ids(&theirs, |k| k.id), total), (vec![b_key.id], 1));

    let revoked = keys[2].id;
    assert!(!control
        .revoke_api_key(b.id, revoked)
        .await
        .expect("revoke_api_key"));
    assert!(control
        .revoke_api_key(a.id, revoked)
        .await
        .expect("revoke_api_key"));
    assert!(!control
        .revoke_api_key(a.id, revoked)
        .await
        .expect("revoke_api_key"));
    assert!(!control
        .revoke_api_key(a.id, Uuid::new_v4())
        .await
        .expect("revoke_api_key"));
    let (live, total) = control
        .list_api_keys(a.id, page(1, 50))
        .await
        .expect("list_api_keys");
    assert_eq!(total, 5);
    let expected: Vec<Uuid> = keys
        .iter()
        .map(|k| k.id)
        .filter(|id| *id != revoked)
        .collect();
    assert_eq!(ids(&live, |k| k.id), expected);
    assert_eq!(
        control
            .list_api_keys(b.id, page(1, 50))
            .await
            .expect("list_api_keys")
            .1,
        1
    );
}

pub async fn authenticate_refuses_revoked_keys_and_records_use(control: &dyn ControlPlane) {
    let (a, key, hash) = new_user(control, "a").await;
    let (b, _, b_hash) = new_user(control, "b").await;
    assert_eq!(
        control
            .authenticate(&random_hash())
            .await
            .expect("authenticate"),
        None
    );
    let last_used = |keys: Vec<ApiKey>| keys[0].last_used_at.clone();
    let listed = control
        .list_api_keys(a.id, page(1, 10))
        .await
        .expect("list_api_keys")
        .0;
    assert_eq!(last_used(listed), None);

    let before = now();
    assert_eq!(
        control
            .authenticate(&hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        Some(a.clone())
    );
    let after = now();
    let used = last_used(
        control
            .list_api_keys(a.id, page(1, 10))
            .await
            .expect("list_api_keys")
            .0,
    )
    .expect("last_used_at is set");
    assert_timestamp(&used);
    assert!(
        before <= used && used <= after,
        "{before} <= {used} <= {after}"
    );
    // Used again within the minute: the recorded time stays.
    control.authenticate(&hash).await.expect("authenticate");
    let again = control
        .list_api_keys(a.id, page(1, 10))
        .await
        .expect("list_api_keys")
        .0;
    assert_eq!(last_used(again), Some(used));

    assert!(control
        .revoke_api_key(a.id, key.id)
        .await
        .expect("revoke_api_key"));
    assert_eq!(
        control
            .authenticate(&hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        None
    );
    assert_eq!(
        control
            .authenticate(&b_hash)
            .await
            .expect("authenticate")
            .map(|o| o.user),
        Some(b)
    );
}

/// A key restricted to suites says so when it authenticates and when it is
/// listed; an unrestricted key has no suites.
pub async fn keys_carry_their_suites(control: &dyn ControlPlane) {
    let (a, unrestricted, hash) = new_user(control, "a").await;
    let suites = vec![Uuid::new_v4(), Uuid::new_v4()];
    let scoped = ApiKey {
        suite_ids: Some(suites.clone()),
        ..new_key(at(20), Some("scoped"))
    };
    let scoped_hash = random_hash();
    control
        .insert_api_key(a.id, &scoped, &scoped_hash)
        .await
        .expect("insert_api_key");
    let owner = control
        .authenticate(&scoped_hash)
        .await
        .expect("authenticate")
        .expect("a live key");
    assert_eq!(owner.user, a);
    assert_eq!(owner.suite_ids, Some(suites.clone()));
    let owner = control
        .authenticate(&hash)
        .await
        .expect("authenticate")
        .expect("a live key");
    assert_eq!(owner.suite_ids, None);
    let (keys, _) = control
        .list_api_keys(a.id, page(1, 10))
        .await
        .expect("list_api_keys");
    let listed = |id| {
        keys.iter()
            .find(|k| k.id == id)
            .expect("listed")
            .suite_ids
            .clone()
    };
    assert_eq!(listed(scoped.id), Some(suites));
    assert_eq!(listed(unrestricted.id), None);
}

// ----------------------------------------------------------------- sessions

pub async fn sessions_are_listed_newest_first_per_user_and_suite(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let mut mine = vec![
        new_session(a.id, gmail, at(10)),
        new_session(a.id, calendar, at(30)),
        new_session(a.id, gmail, at(20)),
        // Two at the same time: ordered by id.
        new_session(a.id, gmail, at(40)),
        new_session(a.id, calendar, at(40)),
    ];
    for s in &mine {
        store(control, s, None).await;
    }
    let theirs = new_session(b.id, gmail, at(50));
    store(control, &theirs, None).await;
    mine.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(x.id.cmp(&y.id)));

    let mut listed = Vec::new();
    for number in 1..=3 {
        let (items, total) = control
            .list_sessions(a.id, None, page(number, 2))
            .await
            .expect("list_sessions");
        assert_eq!(total, 5);
        listed.extend(items);
    }
    assert_eq!(listed, mine, "every field, newest first");

    let (items, total) = control
        .list_sessions(a.id, Some(gmail), page(1, 50))
        .await
        .expect("list_sessions");
    let expected: Vec<Uuid> = mine
        .iter()
        .filter(|s| s.suite_id == gmail)
        .map(|s| s.id)
        .collect();
    assert_eq!((ids(&items, |s| s.id), total), (expected, 3));
    let (none, total) = control
        .list_sessions(a.id, Some(Uuid::new_v4()), page(1, 50))
        .await
        .expect("list_sessions");
    assert!(none.is_empty());
    assert_eq!(total, 0);

    let (items, total) = control
        .list_sessions(b.id, None, page(1, 50))
        .await
        .expect("list_sessions");
    assert_eq!((items, total), (vec![theirs.clone()], 1));
    assert_eq!(
        control
            .get_session(a.id, mine[0].id)
            .await
            .expect("get_session"),
        Some(mine[0].clone())
    );
    assert_eq!(
        control
            .get_session(b.id, mine[0].id)
            .await
            .expect("get_session"),
        None
    );
    assert_eq!(
        control
            .get_session(a.id, theirs.id)
            .await
            .expect("get_session"),
        None
    );
    assert_eq!(
        control
            .get_session(a.id, Uuid::new_v4())
            .await
            .expect("get_session"),
        None
    );
}

pub async fn uploads_are_stored_whole(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let mut session = new_session(a.id, Uuid::new_v4(), at(0));
    session.description = Some("send a message — ünïcode".into());
    session.source_name = Some("send_simple.trace.json.gz".into());
    session.source_sha256 = Some("ab".repeat(32));
    session.source_format = "INPUT_EVENTS_JSONL".into();
    session.size_bytes = 123_456_789_012;
    session.event_count = 42;
    let mut example = new_example(&session, Uuid::new_v4(), at(0));
    example.action_tool_map_id = Some(Uuid::new_v4());
    example.model_configuration =
        json!({"temperature": 0.5, "stop": ["\n"], "nested": {"k": [1, 2]}});
    store(control, &session, Some(&example)).await;
    assert_eq!(
        control
            .get_session(a.id, session.id)
            .await
            .expect("get_session"),
        Some(session.clone())
    );
    assert_eq!(
        control
            .get_example(a.id, example.id)
            .await
            .expect("get_example"),
        Some(example.clone())
    );

    // An upload without an Example, and an Example added to it later.
    let bare = new_session(a.id, session.suite_id, at(10));
    store(control, &bare, None).await;
    let filter = ExampleFilter {
        session_id: Some(bare.id),
        ..ExampleFilter::default()
    };
    assert_eq!(
        control
            .list_examples(a.id, &filter, page(1, 10))
            .await
            .expect("list_examples")
            .1,
        0
    );
    let later = new_example(&bare, Uuid::new_v4(), at(20));
    control
        .insert_example(&later)
        .await
        .expect("insert_example");
    assert_eq!(
        control
            .get_example(a.id, later.id)
            .await
            .expect("get_example"),
        Some(later)
    );

    // An Example of a session that does not exist is refused.
    let orphan = new_example(
        &new_session(a.id, session.suite_id, at(30)),
        Uuid::new_v4(),
        at(30),
    );
    assert!(control.insert_example(&orphan).await.is_err());
    assert_eq!(
        control
            .get_example(a.id, orphan.id)
            .await
            .expect("get_example"),
        None
    );
}

pub async fn idempotency_keys_name_one_session_per_user(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let suite = Uuid::new_v4();
    let upload = |session: SessionRecord, key: &str, fingerprint: &str| {
        let example = new_example(&session, Uuid::new_v4(), session.created_at.clone());
        NewUpload {
            session,
            idempotency: Some((key.to_owned(), fingerprint.to_owned())),
            example: Some(example),
            unread: None,
        }
    };
    let first = upload(new_session(a.id, suite, at(0)), "retry-1", "sha-first");
    assert_eq!(
        control.insert_upload(&first).await.expect("insert_upload"),
        UploadOutcome::Stored
    );
    assert_eq!(
        control
            .idempotent_session(a.id, "retry-1")
            .await
            .expect("idempotent_session"),
        Some(("sha-first".to_owned(), first.session.clone()))
    );

    // The same key again: nothing of the second upload is written.
    let second = upload(new_session(a.id, suite, at(10)), "retry-1", "sha-second");
    assert_eq!(
        control.insert_upload(&second).await.expect("insert_upload"),
        UploadOutcome::KeyTaken
    );
    assert_eq!(
        control
            .get_session(a.id, second.session.id)
            .await
            .expect("get_session"),
        None
    );
    let second_example = second.example.as_ref().expect("an example").id;
    assert_eq!(
        control
            .get_example(a.id, second_example)
            .await
            .expect("get_example"),
        None
    );
    assert_eq!(
        control
            .list_sessions(a.id, None, page(1, 10))
            .await
            .expect("list_sessions")
            .1,
        1
    );
    assert_eq!(
        control
            .list_examples(a.id, &ExampleFilter::default(), page(1, 10))
            .await
            .expect("list_examples")
            .1,
        1
    );
    assert_eq!(
        control
            .idempotent_session(a.id, "retry-1")
            .await
            .expect("idempotent_session")
            .map(|(sha, s)| (sha, s.id)),
        Some(("sha-first".to_owned(), first.session.id))
    );

    // Keys are per user: B's `retry-1` is another key.
    assert_eq!(
        control
            .idempotent_session(b.id, "retry-1")
            .await
            .expect("idempotent_session"),
        None
    );
    let theirs = upload(new_session(b.id, suite, at(20)), "retry-1", "sha-theirs");
    assert_eq!(
        control.insert_upload(&theirs).await.expect("insert_upload"),
        UploadOutcome::Stored
    );
    assert_eq!(
        control
            .idempotent_session(b.id, "retry-1")
            .await
            .expect("idempotent_session"),
        Some(("sha-theirs".to_owned(), theirs.session.clone()))
    );
    assert_eq!(
        control
            .idempotent_session(a.id, "retry-2")
            .await
            .expect("idempotent_session"),
        None
    );
}

// ----------------------------------------------------------------- examples

pub async fn examples_are_listed_newest_first_with_filters(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let (gpt, claude) = (Uuid::new_v4(), Uuid::new_v4());
    let in_gmail = new_session(a.id, gmail, at(0));
    let in_calendar = new_session(a.id, calendar, at(1));
    store(control, &in_gmail, None).await;
    store(control, &in_calendar, None).await;
    // (session, model, created, status); inserted in this order, which
    // breaks ties of time: the later insert is listed first.
    let plan = [
        (&in_gmail, gpt, 10, Status::Pending),
        (&in_gmail, claude, 30, Status::Processing),
        (&in_calendar, gpt, 20, Status::Pending),
        (&in_calendar, claude, 40, Status::Pending),
        (&in_gmail, gpt, 40, Status::Processing),
    ];
    let mut inserted = Vec::new();
    for (session, model, secs, status) in plan {
        let mut example = new_example(session, model, at(secs));
        example.status = status;
        control
            .insert_example(&example)
            .await
            .expect("insert_example");
        inserted.push(example);
    }
    let theirs_session = new_session(b.id, gmail, at(2));
    let theirs = new_example(&theirs_session, gpt, at(50));
    store(control, &theirs_session, Some(&theirs)).await;

    let order = |filter: &dyn Fn(&ExampleRecord) -> bool| -> Vec<Uuid> {
        let mut chosen: Vec<(usize, &ExampleRecord)> = inserted
            .iter()
            .enumerate()
            .filter(|(_, e)| filter(e))
            .collect();
        chosen.sort_by(|(i, x), (j, y)| y.created_at.cmp(&x.created_at).then(j.cmp(i)));
        chosen.into_iter().map(|(_, e)| e.id).collect()
    };
    let list = |filter: ExampleFilter, p: Page| async move {
        control
            .list_examples(a.id, &filter, p)
            .await
            .expect("list_examples")
    };

    let mut listed = Vec::new();
    for number in 1..=3 {
        let (items, total) = list(ExampleFilter::default(), page(number, 2)).await;
        assert_eq!(total, 5);
        listed.extend(items);
    }
    assert_eq!(ids(&listed, |e| e.id), order(&|_| true));
    let by_id: Vec<ExampleRecord> = order(&|_| true)
        .iter()
        .map(|id| {
            inserted
                .iter()
                .find(|e| e.id == *id)
                .cloned()
                .expect("inserted")
        })
        .collect();
    assert_eq!(listed, by_id, "every field");

    // Each filter, and which of the inserted Examples it must list.
    type Case<'a> = (ExampleFilter, Box<dyn Fn(&ExampleRecord) -> bool + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            ExampleFilter {
                session_id: Some(in_calendar.id),
                ..ExampleFilter::default()
            },
            Box::new(|e| e.session_id == in_calendar.id),
        ),
        (
            ExampleFilter {
                suite_id: Some(gmail),
                ..ExampleFilter::default()
            },
            Box::new(|e| e.suite_id == gmail),
        ),
        (
            ExampleFilter {
                model_id: Some(claude),
                ..ExampleFilter::default()
            },
            Box::new(|e| e.model_id == claude),
        ),
        (
            ExampleFilter {
                status: Some(Status::Processing),
                ..ExampleFilter::default()
            },
            Box::new(|e| e.status == Status::Processing),
        ),
        (
            ExampleFilter {
                suite_id: Some(gmail),
                model_id: Some(gpt),
                status: Some(Status::Pending),
                session_id: Some(in_gmail.id),
                reviewed: Some(false),
            },
            Box::new(|e| e.suite_id == gmail && e.model_id == gpt && e.status == Status::Pending),
        ),
        (
            ExampleFilter {
                status: Some(Status::Completed),
                ..ExampleFilter::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (filter, expected) in cases {
        let want = order(&*expected);
        let (items, total) = list(filter.clone(), page(1, 50)).await;
        assert_eq!(ids(&items, |e| e.id), want, "{filter:?}");
        assert_eq!(
            total,
            i64::try_from(want.len()).expect("small"),
            "{filter:?}"
        );
    }

    // B sees only B's; neither sees the other's by id.
    let (items, total) = control
        .list_examples(b.id, &ExampleFilter::default(), page(1, 50))
        .await
        .expect("list_examples");
    assert_eq!((ids(&items, |e| e.id), total), (vec![theirs.id], 1));
    let b_filtered = ExampleFilter {
        session_id: Some(in_gmail.id),
        ..ExampleFilter::default()
    };
    assert_eq!(
        control
            .list_examples(b.id, &b_filtered, page(1, 50))
            .await
            .expect("list_examples")
            .1,
        0
    );
    assert_eq!(
        control
            .get_example(b.id, inserted[0].id)
            .await
            .expect("get_example"),
        None
    );
    assert_eq!(
        control
            .get_example(a.id, theirs.id)
            .await
            .expect("get_example"),
        None
    );
}

pub async fn existing_sessions_and_sessions_of_suite_span_users(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (shared, other) = (Uuid::new_v4(), Uuid::new_v4());
    let mine = new_session(a.id, shared, at(0));
    let theirs = new_session(b.id, shared, at(1));
    let elsewhere = new_session(b.id, other, at(2));
    for s in [&mine, &theirs, &elsewhere] {
        store(control, s, None).await;
    }
    let missing = Uuid::new_v4();
    assert_eq!(
        control
            .existing_sessions(&[mine.id, theirs.id, missing])
            .await
            .expect("existing_sessions"),
        HashSet::from([mine.id, theirs.id])
    );
    assert!(control
        .existing_sessions(&[])
        .await
        .expect("existing_sessions")
        .is_empty());
    assert_eq!(
        control
            .sessions_of_suite(shared)
            .await
            .expect("sessions_of_suite"),
        2
    );
    assert_eq!(
        control
            .sessions_of_suite(other)
            .await
            .expect("sessions_of_suite"),
        1
    );
    assert_eq!(
        control
            .sessions_of_suite(Uuid::new_v4())
            .await
            .expect("sessions_of_suite"),
        0
    );
}

// ------------------------------------------------------------------ catalog

fn file(kind: &str, suite: &str, name: &str, contents: &str) -> CatalogFile {
    CatalogFile {
        kind: kind.into(),
        suite: suite.into(),
        name: name.into(),
        contents: contents.into(),
    }
}

pub async fn catalog_is_replaced_whole_at_its_version(control: &dyn ControlPlane) {
    let start = control.catalog_version().await.expect("catalog_version");
    assert_eq!(
        control.catalog().await.expect("catalog").version,
        start,
        "the version read with the files is the version"
    );
    // Listed in byte order of (kind, suite, name), as given in any order:
    // upper case before lower, `_` between them.
    let files = vec![
        file("suite", "", "gmail", "name = \"gmail\"\n"),
        file("map", "gmail", "default", "[[actions]]\n"),
        file("mcp_server", "", "gmail", "{\"tools\": []}"),
        file("map", "gmail", "Zeta", "z"),
        file("map", "gmail", "alpha", "a"),
        file("map", "gmail", "_under", "u"),
        file("rules", "", "ünïcode", "ü"),
    ];
    let first = control
        .replace_catalog(start, &files)
        .await
        .expect("replace_catalog");
    assert_eq!(first, Some(start + 1));
    let mut sorted = files.clone();
    sorted.sort_by(|x, y| {
        (x.kind.as_bytes(), x.suite.as_bytes(), x.name.as_bytes()).cmp(&(
            y.kind.as_bytes(),
            y.suite.as_bytes(),
            y.name.as_bytes(),
        ))
    });
    assert_eq!(
        control.catalog().await.expect("catalog"),
        StoredCatalog {
            version: start + 1,
            files: sorted.clone(),
        }
    );
    assert_eq!(
        control.catalog_version().await.expect("catalog_version"),
        start + 1
    );

    // A writer that read the catalog before that write is refused, and
    // changes nothing.
    assert_eq!(
        control
            .replace_catalog(start, &[file("suite", "", "stale", "")])
            .await
            .expect("replace_catalog"),
        None
    );
    assert_eq!(
        control.catalog().await.expect("catalog"),
        StoredCatalog {
            version: start + 1,
            files: sorted,
        }
    );

    // The next write replaces every file, it does not merge.
    let fewer = vec![file("suite", "", "calendar", "name = \"calendar\"\n")];
    assert_eq!(
        control
            .replace_catalog(start + 1, &fewer)
            .await
            .expect("replace_catalog"),
        Some(start + 2)
    );
    assert_eq!(
        control.catalog().await.expect("catalog"),
        StoredCatalog {
            version: start + 2,
            files: fewer,
        }
    );
    assert_eq!(
        control
            .replace_catalog(start + 2, &[])
            .await
            .expect("replace_catalog"),
        Some(start + 3)
    );
    assert_eq!(
        control.catalog().await.expect("catalog"),
        StoredCatalog {
            version: start + 3,
            files: Vec::new(),
        }
    );
}

// --------------------------------------------------------------- timestamps

pub async fn timestamps_are_rfc3339_utc_with_milliseconds(control: &dyn ControlPlane) {
    // As `now()` makes them, including a time with no fraction of a second
    // and one at the last millisecond of a year.
    let (a, _, hash) = new_user(control, "a").await;
    let user = control
        .authenticate(&hash)
        .await
        .expect("authenticate")
        .expect("a user")
        .user;
    assert_timestamp(&user.created_at);
    assert_eq!(user.created_at, a.created_at);
    let times = [now(), at(0), "2030-12-31T23:59:59.999Z".to_owned()];
    for created_at in times {
        let session = new_session(a.id, Uuid::new_v4(), created_at.clone());
        let example = new_example(&session, Uuid::new_v4(), created_at.clone());
        store(control, &session, Some(&example)).await;
        let found = control
            .get_session(a.id, session.id)
            .await
            .expect("get_session")
            .expect("the session");
        assert_eq!(found.created_at, created_at);
        let found = control
            .get_example(a.id, example.id)
            .await
            .expect("get_example")
            .expect("the example");
        assert_eq!(
            (found.created_at.as_str(), found.updated_at.as_str()),
            (created_at.as_str(), created_at.as_str())
        );
    }
    let key = new_key(now(), Some("k"));
    control
        .insert_api_key(a.id, &key, &random_hash())
        .await
        .expect("insert_api_key");
    for listed in control
        .list_api_keys(a.id, page(1, 10))
        .await
        .expect("list_api_keys")
        .0
    {
        assert_timestamp(&listed.created_at);
        if let Some(used) = &listed.last_used_at {
            assert_timestamp(used);
        }
    }
    let usage = control
        .usage(a.id, None, &at(-1), "2031-01-01T00:00:00.000Z")
        .await
        .expect("usage");
    assert_eq!(usage.objects.len(), 3);
    for object in &usage.objects {
        assert_timestamp(&object.created_at);
    }
}

// ------------------------------------------------------------------- finish

/// A finished Example shows its results; one not finished shows none.
pub async fn finished_examples_show_their_results(
    control: &dyn ControlPlane,
    finish: &dyn FinishExample,
) {
    let (a, _, _) = new_user(control, "a").await;
    let session = new_session(a.id, Uuid::new_v4(), at(0));
    let example = new_example(&session, Uuid::new_v4(), at(0));
    store(control, &session, Some(&example)).await;
    let pending = control
        .get_example(a.id, example.id)
        .await
        .expect("get_example")
        .expect("the example");
    assert_eq!(
        (
            pending.storage_path,
            pending.tool_calls,
            pending.rejected_calls
        ),
        (None, None, None)
    );
    let finished = Finished {
        storage_path: format!("examples/{}/messages.jsonl", example.id),
        tool_calls: 4,
        rejected_calls: 1,
        tokens: 900,
        messages_bytes: 2048,
    };
    let before = now();
    finish.finish(example.id, &finished).await;
    let done = control
        .get_example(a.id, example.id)
        .await
        .expect("get_example")
        .expect("the example");
    assert_eq!(done.status, Status::Completed);
    assert_eq!(done.error, None);
    assert_eq!(done.storage_path, Some(finished.storage_path));
    assert_eq!((done.tool_calls, done.rejected_calls), (Some(4), Some(1)));
    assert_eq!(done.created_at, example.created_at);
    assert_timestamp(&done.updated_at);
    assert!(done.updated_at >= before, "{} >= {before}", done.updated_at);
    let completed = ExampleFilter {
        status: Some(Status::Completed),
        ..ExampleFilter::default()
    };
    assert_eq!(
        control
            .list_examples(a.id, &completed, page(1, 10))
            .await
            .expect("list_examples")
            .1,
        1
    );
}

// -------------------------------------------------------------------- usage

/// Usage counts the user's uploads made in the period and Examples completed
/// in it, tokens by model, and every object stored before its end.
pub async fn usage_counts_what_the_period_holds(
    control: &dyn ControlPlane,
    finish: &dyn FinishExample,
) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let (gpt, claude) = (Uuid::new_v4(), Uuid::new_v4());
    let day = 24 * 3600;
    // A past month, [start, end): one upload before it, two in it, one after.
    let (start, end) = (at(0), at(30 * day));
    let sized = |suite, secs, bytes| {
        let mut s = new_session(a.id, suite, at(secs));
        s.size_bytes = bytes;
        s
    };
    let before = sized(gmail, -day, 10);
    let in_gmail = sized(gmail, day, 100);
    let in_calendar = sized(calendar, 2 * day, 1000);
    let after = sized(gmail, 31 * day, 10_000);
    for s in [&before, &in_gmail, &in_calendar, &after] {
        store(control, s, None).await;
    }
    store(control, &new_session(b.id, gmail, at(day)), None).await;

    let month = control
        .usage(a.id, None, &start, &end)
        .await
        .expect("usage");
    assert_eq!(month.sessions_uploaded, 2);
    assert_eq!(month.examples_generated, 0);
    assert!(month.tokens_by_model.is_empty());
    let mut objects = month.objects.clone();
    objects.sort_by(|x, y| x.created_at.cmp(&y.created_at));
    let object = |s: &SessionRecord| StoredObject {
        bytes: s.size_bytes,
        created_at: s.created_at.clone(),
    };
    assert_eq!(
        objects,
        vec![object(&before), object(&in_gmail), object(&in_calendar)]
    );
    let gmail_month = control
        .usage(a.id, Some(gmail), &start, &end)
        .await
        .expect("usage");
    assert_eq!(gmail_month.sessions_uploaded, 1);
    assert_eq!(gmail_month.objects.len(), 2);

    // Examples complete now: three, of two models; one stays pending.
    let finished = |tokens, messages_bytes| Finished {
        storage_path: "examples/x/messages.jsonl".into(),
        tool_calls: 1,
        rejected_calls: 0,
        tokens,
        messages_bytes,
    };
    let plan = [
        (&in_gmail, gpt, Some(finished(100, 1))),
        (&in_gmail, claude, Some(finished(20, 2))),
        (&in_calendar, gpt, Some(finished(3, 4))),
        (&in_calendar, claude, None),
    ];
    let recent = now();
    for (session, model, done) in plan {
        let example = new_example(session, model, at(3 * day));
        control
            .insert_example(&example)
            .await
            .expect("insert_example");
        if let Some(done) = done {
            finish.finish(example.id, &done).await;
        }
    }
    let window = (
        timestamp(Utc::now() - Duration::days(1)),
        timestamp(Utc::now() + Duration::days(1)),
    );
    let today = control
        .usage(a.id, None, &window.0, &window.1)
        .await
        .expect("usage");
    assert_eq!(today.sessions_uploaded, 0);
    assert_eq!(today.examples_generated, 3);
    let mut tokens = vec![(gpt, 103), (claude, 20)];
    tokens.sort();
    assert_eq!(today.tokens_by_model, tokens, "by model id");
    // Every upload (all before the end) and the three conversations.
    assert_eq!(today.objects.len(), 7);
    let mut conversation_bytes: Vec<i64> = today
        .objects
        .iter()
        .filter(|o| o.created_at >= recent)
        .map(|o| o.bytes)
        .collect();
    conversation_bytes.sort();
    assert_eq!(conversation_bytes, vec![1, 2, 4]);

    let calendar_today = control
        .usage(a.id, Some(calendar), &window.0, &window.1)
        .await
        .expect("usage");
    assert_eq!(calendar_today.examples_generated, 1);
    assert_eq!(calendar_today.tokens_by_model, vec![(gpt, 3)]);
    assert_eq!(calendar_today.objects.len(), 2);

    // The month long past has none of today's Examples.
    let month = control
        .usage(a.id, None, &start, &end)
        .await
        .expect("usage");
    assert_eq!((month.examples_generated, month.objects.len()), (0, 3));

    // B's usage is B's alone.
    let theirs = control
        .usage(b.id, None, &start, &window.1)
        .await
        .expect("usage");
    assert_eq!(
        (theirs.sessions_uploaded, theirs.examples_generated),
        (1, 0)
    );
    assert_eq!(theirs.objects.len(), 1);
    assert!(theirs.tokens_by_model.is_empty());
}

// ------------------------------------------------------------------ reviews

fn review_item(index: u32, start_ms: f64, confidence: Option<f64>, low: bool) -> ReviewItem {
    ReviewItem {
        index,
        origin: Origin::Classified,
        decision: Decision::Pending,
        action: "send_email".into(),
        tool: "send_email".into(),
        arguments: json!({"to": ["a@example.com"], "subject": format!("item {index}")}),
        confidence,
        low_confidence: low,
        start_ms,
        end_ms: start_ms + 10.0,
        evidence: vec![index, index + 1],
    }
}

fn new_review(example: &ExampleRecord, items: Vec<ReviewItem>) -> Review {
    Review {
        example_id: example.id,
        session_id: example.session_id,
        user_id: example.user_id,
        suite_id: example.suite_id,
        state: ReviewState::Open,
        items,
        updated_at: None,
    }
}

/// A review is stored once, keeps its items in time order, takes decisions
/// and added items while open and belongs to its user; completing it marks
/// the Example reviewed, and then it no longer changes.
pub async fn reviews_record_decisions_until_completed(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let session = new_session(a.id, Uuid::new_v4(), at(0));
    let example = new_example(&session, Uuid::new_v4(), at(1));
    store(control, &session, Some(&example)).await;
    assert_eq!(
        control.get_review(a.id, example.id).await.expect("get"),
        None
    );

    // Stored in index order; answered in time order.
    let classified = vec![
        review_item(0, 500.0, Some(0.9), false),
        review_item(1, 100.0, Some(0.4), true),
    ];
    let review = new_review(&example, classified.clone());
    control
        .open_review(&review, &example.created_at)
        .await
        .expect("open_review");
    // A second opening (another request racing) changes nothing.
    control
        .open_review(&new_review(&example, Vec::new()), &example.created_at)
        .await
        .expect("open_review again");
    // Nor may anyone open a review of another user's Example.
    let mut stolen = new_review(&example, Vec::new());
    stolen.user_id = b.id;
    control
        .open_review(&stolen, &example.created_at)
        .await
        .expect("open_review of another's");
    assert_eq!(
        control.get_review(b.id, example.id).await.expect("get"),
        None
    );

    let stored = control
        .get_review(a.id, example.id)
        .await
        .expect("get")
        .expect("the review");
    assert_eq!(stored.state, ReviewState::Open);
    assert_eq!(stored.updated_at, None, "never reviewed yet");
    assert_eq!(stored.session_id, session.id);
    assert_eq!(stored.suite_id, session.suite_id);
    assert_eq!(
        stored.items,
        vec![classified[1].clone(), classified[0].clone()]
    );

    // A decision on an item.
    let mut changed = classified[0].clone();
    changed.decision = Decision::Changed;
    changed.tool = "draft_email".into();
    changed.arguments = json!({"to": ["b@example.com"]});
    assert!(!control
        .update_review_item(b.id, example.id, &changed)
        .await
        .expect("update by another user"));
    let mut missing = changed.clone();
    missing.index = 7;
    assert!(!control
        .update_review_item(a.id, example.id, &missing)
        .await
        .expect("update of no item"));
    assert!(control
        .update_review_item(a.id, example.id, &changed)
        .await
        .expect("update"));

    // An added item takes the next index, whatever index it came with.
    let mut added = review_item(0, 300.0, None, false);
    added.origin = Origin::Added;
    added.decision = Decision::Confirmed;
    added.evidence = Vec::new();
    assert_eq!(
        control
            .add_review_item(b.id, example.id, &added)
            .await
            .expect("add by another user"),
        None
    );
    let stored_added = control
        .add_review_item(a.id, example.id, &added)
        .await
        .expect("add")
        .expect("an open review");
    assert_eq!(stored_added.index, 2);
    let reviewed = control
        .get_review(a.id, example.id)
        .await
        .expect("get")
        .expect("the review");
    assert_eq!(
        reviewed.items,
        vec![classified[1].clone(), stored_added.clone(), changed.clone()]
    );
    let updated_at = reviewed.updated_at.expect("reviewed now");
    assert_timestamp(&updated_at);

    // Completing it.
    let outcome = ReviewOutcome {
        tool_calls: 2,
        rejected_calls: 0,
        messages_bytes: 321,
    };
    assert!(!control
        .complete_review(b.id, example.id, &outcome)
        .await
        .expect("complete by another user"));
    assert!(control
        .complete_review(a.id, example.id, &outcome)
        .await
        .expect("complete"));
    assert!(!control
        .complete_review(a.id, example.id, &outcome)
        .await
        .expect("complete twice"));
    let done = control
        .get_example(a.id, example.id)
        .await
        .expect("get_example")
        .expect("the example");
    assert!(done.reviewed);
    assert_eq!((done.tool_calls, done.rejected_calls), (Some(2), Some(0)));
    let closed = control
        .get_review(a.id, example.id)
        .await
        .expect("get")
        .expect("the review");
    assert_eq!(closed.state, ReviewState::Completed);
    assert!(!control
        .update_review_item(a.id, example.id, &classified[1])
        .await
        .expect("update after completion"));
    assert_eq!(
        control
            .add_review_item(a.id, example.id, &added)
            .await
            .expect("add after completion"),
        None
    );

    // Lists filter on the flag.
    let other = new_example(&session, Uuid::new_v4(), at(2));
    control
        .insert_example(&other)
        .await
        .expect("insert_example");
    for (flag, expected) in [(true, example.id), (false, other.id)] {
        let filter = ExampleFilter {
            reviewed: Some(flag),
            ..ExampleFilter::default()
        };
        let (items, total) = control
            .list_examples(a.id, &filter, page(1, 10))
            .await
            .expect("list_examples");
        assert_eq!((ids(&items, |e| e.id), total), (vec![expected], 1));
    }
}

/// The queue holds the pending items of the user's open reviews in their
/// key's suites: low-confidence first, then the least confident, then the
/// newest Example; decided items and completed reviews leave it.
pub async fn the_review_queue_puts_low_confidence_first(control: &dyn ControlPlane) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let older_session = new_session(a.id, gmail, at(0));
    let older = new_example(&older_session, Uuid::new_v4(), at(1));
    store(control, &older_session, Some(&older)).await;
    let newer_session = new_session(a.id, calendar, at(10));
    let newer = new_example(&newer_session, Uuid::new_v4(), at(11));
    store(control, &newer_session, Some(&newer)).await;
    let theirs_session = new_session(b.id, gmail, at(0));
    let theirs = new_example(&theirs_session, Uuid::new_v4(), at(1));
    store(control, &theirs_session, Some(&theirs)).await;

    let open =
        |example: &ExampleRecord, items| (new_review(example, items), example.created_at.clone());
    for (review, created_at) in [
        open(
            &older,
            vec![
                review_item(0, 0.0, Some(0.95), false),
                review_item(1, 10.0, Some(0.5), true),
                review_item(2, 20.0, Some(0.8), false),
            ],
        ),
        open(
            &newer,
            vec![
                review_item(0, 0.0, Some(0.5), true),
                review_item(1, 10.0, Some(0.2), true),
                review_item(2, 20.0, Some(0.8), false),
            ],
        ),
        open(&theirs, vec![review_item(0, 0.0, Some(0.1), true)]),
    ] {
        control
            .open_review(&review, &created_at)
            .await
            .expect("open_review");
    }
    let order = |entries: &[QueueEntry]| -> Vec<(Uuid, u32)> {
        entries.iter().map(|e| (e.example_id, e.index)).collect()
    };
    let queue = control
        .review_queue(a.id, None, 0, 100)
        .await
        .expect("review_queue");
    assert_eq!(
        order(&queue),
        vec![
            (newer.id, 1),
            (newer.id, 0),
            (older.id, 1),
            (newer.id, 2),
            (older.id, 2),
            (older.id, 0),
        ]
    );
    let first = &queue[0];
    assert_eq!(
        (
            first.session_id,
            first.confidence,
            first.low_confidence,
            first.start_ms
        ),
        (newer_session.id, Some(0.2), true, 10.0)
    );
    // Pages from an offset.
    let page_two = control
        .review_queue(a.id, None, 2, 2)
        .await
        .expect("review_queue");
    assert_eq!(order(&page_two), order(&queue[2..4]));
    // A key for one suite sees that suite's.
    let gmail_only = control
        .review_queue(a.id, Some(&[gmail]), 0, 100)
        .await
        .expect("review_queue");
    assert_eq!(
        order(&gmail_only),
        vec![(older.id, 1), (older.id, 2), (older.id, 0)]
    );
    // A decided item leaves; a completed review takes the rest with it.
    let mut confirmed = review_item(1, 10.0, Some(0.2), true);
    confirmed.decision = Decision::Confirmed;
    assert!(control
        .update_review_item(a.id, newer.id, &confirmed)
        .await
        .expect("update"));
    let outcome = ReviewOutcome {
        tool_calls: 3,
        rejected_calls: 0,
        messages_bytes: 1,
    };
    assert!(control
        .complete_review(a.id, older.id, &outcome)
        .await
        .expect("complete"));
    let left = control
        .review_queue(a.id, None, 0, 100)
        .await
        .expect("review_queue");
    assert_eq!(order(&left), vec![(newer.id, 0), (newer.id, 2)]);
}

/// Reviews start from the user's COMPLETED Examples that have none yet.
pub async fn unreviewed_examples_are_completed_ones_without_a_review(
    control: &dyn ControlPlane,
    finish: &dyn FinishExample,
) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let done = Finished {
        storage_path: "examples/x/messages.jsonl".into(),
        tool_calls: 1,
        rejected_calls: 0,
        tokens: 0,
        messages_bytes: 10,
    };
    let mut made = Vec::new();
    for (user, suite, secs, finished) in [
        (a.id, gmail, 0, true),
        (a.id, calendar, 1, true),
        (a.id, gmail, 2, false),
        (a.id, gmail, 3, true),
        (b.id, gmail, 4, true),
    ] {
        let session = new_session(user, suite, at(secs));
        let example = new_example(&session, Uuid::new_v4(), at(secs));
        store(control, &session, Some(&example)).await;
        if finished {
            finish.finish(example.id, &done).await;
        }
        made.push(example);
    }
    let found = control
        .unreviewed_examples(a.id, None, 10)
        .await
        .expect("unreviewed_examples");
    assert_eq!(
        ids(&found, |e| e.id),
        vec![made[3].id, made[1].id, made[0].id],
        "newest first"
    );
    assert!(found.iter().all(|e| e.status == Status::Completed));
    let limited = control
        .unreviewed_examples(a.id, Some(&[gmail]), 1)
        .await
        .expect("unreviewed_examples");
    assert_eq!(ids(&limited, |e| e.id), vec![made[3].id]);
    control
        .open_review(&new_review(&made[3], Vec::new()), &made[3].created_at)
        .await
        .expect("open_review");
    let rest = control
        .unreviewed_examples(a.id, Some(&[gmail]), 10)
        .await
        .expect("unreviewed_examples");
    assert_eq!(ids(&rest, |e| e.id), vec![made[0].id]);
}

/// The daily series: uploads by the day they were made, Examples, tokens and
/// conversation bytes by the day they completed, and what was stored before.
pub async fn daily_usage_counts_each_day(control: &dyn ControlPlane, finish: &dyn FinishExample) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let (gmail, calendar) = (Uuid::new_v4(), Uuid::new_v4());
    let day = 24 * 3600;
    let sized = |user, suite, secs, bytes| {
        let mut s = new_session(user, suite, at(secs));
        s.size_bytes = bytes;
        s
    };
    let before = sized(a.id, gmail, -day, 7);
    let first = sized(a.id, gmail, 0, 100);
    let second = sized(a.id, calendar, 60, 1000);
    let third = sized(a.id, gmail, 2 * day, 10);
    let others = sized(b.id, gmail, 0, 99);
    for s in [&before, &first, &second, &third, &others] {
        store(control, s, None).await;
    }
    let (start, end) = (at(0), at(3 * day));
    let rows = control
        .daily_usage(a.id, None, &start, &end)
        .await
        .expect("daily_usage");
    assert_eq!(rows.stored_before, 7);
    let day_of = |secs: i64| at(secs)[..10].to_owned();
    let counts = |date: String, sessions, bytes_added| DayCounts {
        date,
        sessions,
        examples: 0,
        tokens: 0,
        bytes_added,
    };
    assert_eq!(
        rows.days,
        vec![counts(day_of(0), 2, 1100), counts(day_of(2 * day), 1, 10)]
    );
    let gmail_rows = control
        .daily_usage(a.id, Some(gmail), &start, &end)
        .await
        .expect("daily_usage");
    assert_eq!(
        gmail_rows.days,
        vec![counts(day_of(0), 1, 100), counts(day_of(2 * day), 1, 10)]
    );

    // Examples complete now, so they count today.
    for tokens in [5, 6] {
        let example = new_example(&first, Uuid::new_v4(), at(0));
        control
            .insert_example(&example)
            .await
            .expect("insert_example");
        let done = Finished {
            storage_path: "examples/x/messages.jsonl".into(),
            tool_calls: 1,
            rejected_calls: 0,
            tokens,
            messages_bytes: 3,
        };
        finish.finish(example.id, &done).await;
    }
    let today = timestamp(Utc::now())[..10].to_owned();
    let window = (
        timestamp(Utc::now() - Duration::hours(1)),
        timestamp(Utc::now() + Duration::hours(1)),
    );
    let recent = control
        .daily_usage(a.id, None, &window.0, &window.1)
        .await
        .expect("daily_usage");
    assert_eq!(recent.stored_before, 7 + 100 + 1000 + 10);
    let summed = recent.days.iter().fold(DayCounts::default(), |mut acc, d| {
        assert!(d.date <= today, "{} is not today or just before", d.date);
        acc.examples += d.examples;
        acc.tokens += d.tokens;
        acc.bytes_added += d.bytes_added;
        acc.sessions += d.sessions;
        acc
    });
    assert_eq!(
        (
            summed.sessions,
            summed.examples,
            summed.tokens,
            summed.bytes_added
        ),
        (0, 2, 11, 6)
    );
}

// ---------------------------------------------------------------- callbacks

/// A callback is due once its Example is finished, claimed by one sender at a
/// time for a lease, retried when its attempt says so, and done once
/// delivered; only the attempt holding the claim records an outcome.
pub async fn callbacks_are_claimed_once_finished_until_delivered(
    control: &dyn ControlPlane,
    finish: &dyn FinishExample,
) {
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    assert!(!control.has_callback_secret(a.id).await.expect("secret"));
    assert!(control
        .set_callback_secret(a.id, Some("whsec_test"))
        .await
        .expect("set"));
    assert!(control.has_callback_secret(a.id).await.expect("secret"));
    assert!(!control.has_callback_secret(b.id).await.expect("secret"));

    let session = new_session(a.id, Uuid::new_v4(), at(0));
    let mut example = new_example(&session, Uuid::new_v4(), at(0));
    example.callback_url = Some("https://receiver.example/hooks".to_owned());
    store(control, &session, Some(&example)).await;
    let quiet_session = new_session(a.id, Uuid::new_v4(), at(1));
    let quiet = new_example(&quiet_session, Uuid::new_v4(), at(1));
    store(control, &quiet_session, Some(&quiet)).await;
    let shown = control
        .get_example(a.id, example.id)
        .await
        .expect("get_example")
        .expect("the example");
    assert_eq!(shown.callback_url, example.callback_url);

    let t0 = Utc::now();
    let secs = |s: i64| t0 + Duration::seconds(s);
    let claim = |now, lease| async move {
        control
            .claim_callbacks(now, lease, 10)
            .await
            .expect("claim_callbacks")
    };
    assert!(claim(t0, secs(60)).await.is_empty(), "not finished yet");

    let finished = Finished {
        storage_path: format!("examples/{}/messages.jsonl", example.id),
        tool_calls: 1,
        rejected_calls: 0,
        tokens: 10,
        messages_bytes: 100,
    };
    finish.finish(example.id, &finished).await;
    finish.finish(quiet.id, &finished).await;

    let first = claim(t0, secs(60)).await;
    assert_eq!(first.len(), 1, "only the Example with a callback URL");
    assert_eq!(first[0].example.id, example.id);
    assert_eq!(first[0].example.status, Status::Completed);
    assert_eq!(first[0].url, "https://receiver.example/hooks");
    assert_eq!(first[0].attempt, 1);
    assert_eq!(first[0].secret.as_deref(), Some("whsec_test"));
    assert!(
        claim(t0, secs(60)).await.is_empty(),
        "claimed for the lease"
    );

    assert!(control
        .finish_callback(
            example.id,
            1,
            &CallbackOutcome::RetryAt(secs(10), "503".to_owned())
        )
        .await
        .expect("finish_callback"));
    assert!(claim(secs(5), secs(65)).await.is_empty(), "not due yet");
    let second = claim(secs(11), secs(71)).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 2);
    assert_eq!(
        timestamp(second[0].first_attempt_at),
        timestamp(first[0].first_attempt_at),
        "the first attempt's time is kept"
    );
    assert!(
        !control
            .finish_callback(example.id, 1, &CallbackOutcome::Delivered)
            .await
            .expect("finish_callback"),
        "a stale attempt records nothing"
    );
    assert!(control
        .finish_callback(example.id, 2, &CallbackOutcome::Delivered)
        .await
        .expect("finish_callback"));
    assert!(
        claim(secs(3600), secs(3660)).await.is_empty(),
        "delivered: never again"
    );

    // A lease that runs out gives the callback to the next claim.
    let session = new_session(b.id, Uuid::new_v4(), at(2));
    let mut lost = new_example(&session, Uuid::new_v4(), at(2));
    lost.callback_url = Some("https://receiver.example/b".to_owned());
    store(control, &session, Some(&lost)).await;
    finish.finish(lost.id, &finished).await;
    let taken = claim(t0, secs(30)).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].secret, None, "b has no secret");
    assert!(claim(secs(29), secs(59)).await.is_empty());
    let again = claim(secs(31), secs(61)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    assert!(control
        .finish_callback(lost.id, 2, &CallbackOutcome::GaveUp("refused".to_owned()))
        .await
        .expect("finish_callback"));
    assert!(claim(secs(3600), secs(3660)).await.is_empty());
}

// ----------------------------------------------------------------- deposits

/// A deposit is stored with its Example, seen by its user only, and settled
/// once; its times come back as they went in, to the millisecond.
pub async fn deposits_are_stored_with_their_example_and_settled_once(control: &dyn ControlPlane) {
    let time = |secs: i64| base() + Duration::seconds(secs) + Duration::milliseconds(250);
    let (a, _, _) = new_user(control, "a").await;
    let (b, _, _) = new_user(control, "b").await;
    let session = new_session(a.id, Uuid::new_v4(), at(0));
    store(control, &session, None).await;
    let example = new_example(&session, Uuid::new_v4(), at(1));
    let deposit = Deposit {
        example_id: example.id,
        user_id: a.id,
        payment_intent_id: format!("pi_{}", Uuid::new_v4().simple()),
        amount_cents: 100,
        currency: "usd".to_owned(),
        created_at: time(1),
        expires_at: time(86_401),
        settled_at: None,
        cost_cents: None,
        refunded_cents: None,
    };
    control
        .insert_deposit(&example, &deposit)
        .await
        .expect("insert_deposit");
    assert!(control
        .get_example(a.id, example.id)
        .await
        .expect("get_example")
        .is_some());
    assert_eq!(
        control.get_deposit(a.id, example.id).await.expect("get"),
        Some(deposit.clone())
    );
    assert_eq!(
        control.get_deposit(b.id, example.id).await.expect("get"),
        None
    );
    assert!(control
        .settle_deposit(example.id, 5, 95, time(100))
        .await
        .expect("settle"));
    assert!(
        !control
            .settle_deposit(example.id, 0, 100, time(200))
            .await
            .expect("settle"),
        "settled once"
    );
    let settled = control
        .get_deposit(a.id, example.id)
        .await
        .expect("get")
        .expect("the deposit");
    assert_eq!(
        (
            settled.cost_cents,
            settled.refunded_cents,
            settled.settled_at
        ),
        (Some(5), Some(95), Some(time(100)))
    );
}
