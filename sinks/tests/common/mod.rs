//! Synthetic Examples for the sink tests and the sample dataset: deterministic,
//! shaped like what synthesis produces (chat-format training lines, JSON
//! arguments), spread over several suites and days.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use tracepipe_sinks::{ActionRow, ExampleRow};

pub const SUITES: [&str; 2] = ["gmail", "google docs"];

const TOOLS: [&str; 4] = ["send_email", "draft_email", "search_emails", "modify_email"];

/// One synthetic Example, its actions and its `messages.jsonl`.
pub struct SampleExample {
    pub example: ExampleRow,
    pub actions: Vec<ActionRow>,
    pub messages_jsonl: String,
}

pub fn created_at(i: usize) -> DateTime<Utc> {
    // Three days, several Examples per day, minutes apart.
    let day = 5 + u32::try_from(i % 3).expect("small");
    let minute = u32::try_from(i % 60).expect("small");
    Utc.with_ymd_and_hms(2026, 1, day, 12, minute, 7)
        .single()
        .expect("valid date")
        + chrono::Duration::microseconds(i64::try_from(i).expect("small") * 137)
}

/// Example number `i`: its suite, day and action count all vary with `i`.
pub fn sample_example(i: usize) -> SampleExample {
    let suite = SUITES[i % SUITES.len()];
    let example_id = format!("00000000-0000-4000-8000-{i:012}");
    let session_id = format!("10000000-0000-4000-8000-{:012}", i / 2);
    let created_at = created_at(i);
    // Every third session's recording carries no clock: the NULL date partition.
    let session_started_at =
        (!i.is_multiple_of(3)).then(|| created_at - chrono::Duration::minutes(5));
    let action_count = 1 + i % 4;
    let mut actions = Vec::with_capacity(action_count);
    let mut tool_calls = Vec::with_capacity(action_count);
    for a in 0..action_count {
        let tool = TOOLS[(i + a) % TOOLS.len()];
        let arguments = json!({
            "to": [format!("person{i}@example.com")],
            "subject": format!("Subject {i}.{a}"),
            "body": "x".repeat(20 + (i * 7 + a) % 50),
        })
        .to_string();
        let confidence = 0.5 + f64::from(u32::try_from((i + a) % 50).expect("small")) / 100.0;
        let first = i32::try_from(a * 10).expect("small");
        actions.push(ActionRow {
            example_id: example_id.clone(),
            session_id: session_id.clone(),
            suite: suite.to_owned(),
            model_name: "rules".to_owned(),
            model_version: "1".to_owned(),
            action_index: i32::try_from(a).expect("small"),
            action: tool.replace("draft_email", "create_draft"),
            tool: tool.to_owned(),
            arguments: arguments.clone(),
            confidence,
            low_confidence: confidence < 0.6,
            evidence: (first..first + 4).collect(),
            evidence_start: first,
            evidence_end: first + 3,
            start_us: i64::from(first) * 1_000,
            end_us: i64::from(first + 3) * 1_000,
            created_at,
            session_started_at,
            result_grounded: a % 2 == 0,
        });
        tool_calls.push(json!({
            "id": format!("call_{}", a + 1),
            "type": "function",
            "function": {"name": tool, "arguments": arguments},
        }));
    }
    let messages = vec![
        json!({"role": "system", "content": format!("You are an assistant for {suite}.")}),
        json!({"role": "user", "content": format!("Please handle request {i}.")}),
        json!({"role": "assistant", "content": null, "tool_calls": tool_calls}),
    ];
    let tools: Vec<String> = actions.iter().map(|a| a.tool.clone()).collect();
    let tool_specs: Vec<_> = tools
        .iter()
        .map(|name| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}))
        .collect();
    let training_line = json!({"messages": messages, "tools": tool_specs}).to_string();
    let messages_jsonl = messages
        .iter()
        .map(|m| format!("{m}\n"))
        .collect::<String>();
    let low_confidence_count = actions.iter().filter(|a| a.low_confidence).count();
    let example = ExampleRow {
        example_id: example_id.clone(),
        session_id,
        suite: suite.to_owned(),
        model_provider: "RULES".to_owned(),
        model_name: "rules".to_owned(),
        model_version: "1".to_owned(),
        action_tool_map_id: (!i.is_multiple_of(5))
            .then(|| "20000000-0000-4000-8000-000000000001".to_owned()),
        status: "COMPLETED".to_owned(),
        created_at,
        session_started_at,
        action_count: i32::try_from(actions.len()).expect("small"),
        low_confidence_count: i32::try_from(low_confidence_count).expect("small"),
        min_confidence: actions.iter().map(|a| a.confidence).reduce(f64::min),
        tools,
        messages_path: format!("examples/{example_id}/messages.jsonl"),
        training_line,
        rejected_calls: i32::try_from(i % 2).expect("small"),
        source_name: (!i.is_multiple_of(4)).then(|| format!("recording-{i}.trace.json.gz")),
        source_sha256: (!i.is_multiple_of(4)).then(|| format!("{i:064x}")),
        // Every fifth recorded without the capture script.
        capture: if i.is_multiple_of(5) {
            "none"
        } else {
            "script"
        }
        .into(),
    };
    SampleExample {
        example,
        actions,
        messages_jsonl,
    }
}

/// Every object in `store` with its bytes, sorted by key.
pub async fn snapshot(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<u8>)> {
    let mut metas: Vec<_> = store
        .list(None)
        .try_collect::<Vec<_>>()
        .await
        .expect("list objects");
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .expect("get object")
            .bytes()
            .await
            .expect("object bytes");
        out.push((meta.location.to_string(), bytes.to_vec()));
    }
    out
}

/// The bytes of one object.
pub async fn read(store: &Arc<dyn ObjectStore>, location: &Path) -> bytes::Bytes {
    store
        .get(location)
        .await
        .expect("get object")
        .bytes()
        .await
        .expect("object bytes")
}
