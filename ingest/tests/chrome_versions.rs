//! Hand-built traces in the shapes older Chrome versions write, one test per
//! shape, named after the Chrome version it stands for: where the page, its
//! frames and its navigations are found when `FrameLoader:state_snapshot` (and
//! the `loading`/`navigation` categories) are missing. docs/recording.md lists
//! the rules.

use serde_json::{json, Value};
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
use tracepipe_schemas::{EventKind, Session};

const APP: &str = "http://localhost:8765/";

fn read_with(events: &[Value], limits: &Limits) -> Session {
    let bytes = serde_json::to_vec(&json!({ "traceEvents": events })).unwrap();
    read_session(&bytes[..], "s".into(), limits, &mut DiscardScreenshots).unwrap()
}

fn read(events: &[Value]) -> Session {
    read_with(events, &Limits::default())
}

fn mark(kind: &str, pid: i64, ts: i64, url: &str) -> Value {
    let detail = json!({"target": {"tag": "button", "label": "Compose"}, "url": url});
    json!({"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing",
        "name": format!("tracepipe:{kind}"), "ph": "I", "pid": pid, "tid": 1, "ts": ts})
}

fn click(pid: i64, ts: i64) -> Value {
    json!({"args": {"data": {"type": "click"}}, "cat": "devtools.timeline",
        "name": "EventDispatch", "ph": "X", "dur": 2, "pid": pid, "tid": 1, "ts": ts})
}

fn process_name(pid: i64, name: &str) -> Value {
    json!({"args": {"name": name}, "cat": "__metadata", "name": "process_name", "ph": "M", "pid": pid, "tid": 0, "ts": 0})
}

/// (kind, url, same_document) of every navigation, in order.
fn navigations(s: &Session) -> Vec<(String, bool)> {
    s.events
        .iter()
        .filter(|e| e.kind == EventKind::Navigation)
        .map(|e| {
            (
                e.url.clone().unwrap_or_default(),
                e.navigation.as_ref().is_some_and(|n| n.same_document),
            )
        })
        .collect()
}

fn inputs(s: &Session) -> usize {
    s.events
        .iter()
        .filter(|e| e.kind == EventKind::Input)
        .count()
}

#[test]
fn chrome_69_tracing_started_in_page_gives_the_page() {
    // Before TracingStartedInBrowser, the page's own renderer announced the
    // traced page; `CommitLoad` named the frame's page instead of saying
    // `isMainFrame`.
    let s = read(&[
        json!({"args": {"data": {"page": "F1", "sessionId": "9.1"}}, "cat": "disabled-by-default-devtools.timeline",
            "name": "TracingStartedInPage", "ph": "I", "pid": 20, "tid": 1, "ts": 1_000}),
        json!({"args": {"data": {"frame": "F1", "url": format!("{APP}#inbox"), "name": "", "page": "F1"}},
            "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 2_000}),
        // An iframe's commit is not a navigation of the page.
        json!({"args": {"data": {"frame": "F2", "url": "http://ads.example/", "name": "", "page": "F1"}},
            "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 2_500}),
        click(20, 3_000),
        // Another tab's renderer: not the traced page.
        click(30, 3_100),
    ]);
    assert_eq!(navigations(&s), vec![(format!("{APP}#inbox"), false)]);
    assert_eq!(inputs(&s), 1);
    assert_eq!(s.pages, vec![format!("{APP}#inbox")]);
}

#[test]
fn chrome_74_tracing_started_in_browser_and_commit_load_give_the_page_and_its_navigations() {
    // Chrome 70 to about 110: the browser lists the frames and their renderer
    // processes; `CommitLoad` says `isMainFrame`; `navigationStart` carries no
    // URL yet.
    let s = read(&[
        process_name(10, "Browser"),
        json!({"args": {"data": {"frameTreeNodeId": 1, "persistentIds": true, "frames": [
            {"frame": "F1", "url": "about:blank", "name": "", "processId": 20},
            {"frame": "F2", "url": "http://ads.example/", "name": "", "processId": 20, "parent": "F1"}
        ]}}, "cat": "disabled-by-default-devtools.timeline", "name": "TracingStartedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 500}),
        json!({"args": {"frame": "F1"}, "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 900}),
        json!({"args": {"data": {"frame": "F1", "url": format!("{APP}#inbox"), "name": "", "isMainFrame": true}},
            "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 1_000}),
        json!({"args": {"data": {"frame": "F2", "url": "http://ads.example/x", "name": "", "isMainFrame": false}},
            "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 1_100}),
        click(20, 2_000),
        mark("click", 20, 2_001, &format!("{APP}#inbox")),
        // A full load of another page of the app.
        json!({"args": {"data": {"frame": "F1", "url": format!("{APP}settings"), "name": "", "isMainFrame": true}},
            "cat": "devtools.timeline", "name": "CommitLoad", "ph": "X", "dur": 5, "pid": 20, "tid": 1, "ts": 3_000}),
    ]);
    assert_eq!(
        navigations(&s),
        vec![
            (format!("{APP}#inbox"), false),
            (format!("{APP}settings"), false)
        ]
    );
    assert_eq!(inputs(&s), 1);
}

#[test]
fn chrome_80_navigation_start_gives_the_document_url() {
    // From about Chrome 75 `navigationStart` says which document loads and
    // whether in the main frame, with no other navigation event needed.
    let s = read(&[
        json!({"args": {"frame": "F1", "data": {"documentLoaderURL": format!("{APP}#inbox"), "isLoadingMainFrame": true, "navigationId": "N1"}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1_000}),
        json!({"args": {"frame": "F2", "data": {"documentLoaderURL": "http://ads.example/", "isLoadingMainFrame": false, "navigationId": "N2"}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1_200}),
        click(20, 2_000),
        // An empty URL (the initial empty document) is no navigation.
        json!({"args": {"frame": "F3", "data": {"documentLoaderURL": "", "isLoadingMainFrame": true, "navigationId": "N3"}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 2_500}),
    ]);
    assert_eq!(navigations(&s), vec![(format!("{APP}#inbox"), false)]);
    assert_eq!(inputs(&s), 1);
}

#[test]
fn chrome_103_frame_committed_in_browser_gives_navigations_without_the_loading_category() {
    // Recorded without `loading` and `navigation` (chrome://tracing with
    // only the timeline categories ticked): the browser's
    // `FrameCommittedInBrowser` has the URL; hash-route changes show only in
    // the marks' URLs.
    let s = read(&[
        process_name(10, "Browser"),
        process_name(20, "Renderer"),
        json!({"args": {"data": {"frames": [{"frame": "F1", "url": "about:blank", "name": "", "processId": 20}]}},
            "cat": "disabled-by-default-devtools.timeline", "name": "TracingStartedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 500}),
        json!({"args": {"data": {"frame": "F1", "url": format!("{APP}#inbox"), "name": "", "processId": 20}},
            "cat": "disabled-by-default-devtools.timeline", "name": "FrameCommittedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 1_000}),
        // The browser's own page in another tab.
        json!({"args": {"data": {"frame": "F9", "url": "chrome://newtab/", "name": "", "processId": 30}},
            "cat": "disabled-by-default-devtools.timeline", "name": "FrameCommittedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 1_100}),
        // An iframe of the page.
        json!({"args": {"data": {"frame": "F2", "url": "http://ads.example/", "name": "", "processId": 20, "parent": "F1"}},
            "cat": "disabled-by-default-devtools.timeline", "name": "FrameCommittedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 1_200}),
        mark("click", 20, 2_000, &format!("{APP}#inbox")),
        mark("click", 20, 3_000, &format!("{APP}#sent")),
        click(30, 3_100),
    ]);
    assert_eq!(
        navigations(&s),
        vec![
            (format!("{APP}#inbox"), false),
            (format!("{APP}#sent"), true)
        ]
    );
    assert_eq!(inputs(&s), 0, "the other tab's click is dropped");
}

#[test]
fn chrome_156_state_snapshots_win_over_the_older_navigation_events() {
    // A current trace has every kind: the older ones must not add a second
    // navigation, nor reorder what the snapshots say.
    let s = read(&[
        json!({"args": {"data": {"frame": "F1", "url": format!("{APP}?boot=1"), "name": "", "processId": 20}},
            "cat": "disabled-by-default-devtools.timeline", "name": "FrameCommittedInBrowser", "ph": "I", "pid": 10, "tid": 1, "ts": 900}),
        json!({"args": {"snapshot": {"documentLoaderURL": format!("{APP}#inbox"), "frame": {"id_ref": "F1"}, "isLoadingMainFrame": true}},
            "cat": "loading", "name": "FrameLoader:state_snapshot", "ph": "I", "pid": 20, "tid": 1, "ts": 1_000}),
        json!({"args": {"frame": "F1", "data": {"documentLoaderURL": format!("{APP}?boot=1"), "isLoadingMainFrame": true}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 950}),
        json!({"args": {"snapshot": {"documentLoaderURL": format!("{APP}#sent"), "frame": {"id_ref": "F1"}, "isLoadingMainFrame": true}},
            "cat": "loading", "name": "FrameLoader:state_snapshot", "ph": "I", "pid": 20, "tid": 1, "ts": 2_000}),
    ]);
    assert_eq!(
        navigations(&s),
        vec![
            (format!("{APP}#inbox"), false),
            (format!("{APP}#sent"), true)
        ]
    );
}

#[test]
fn chrome_120_soft_navigation_event_gives_a_same_document_navigation() {
    let s = read(&[
        json!({"args": {"frame": "F1", "data": {"documentLoaderURL": format!("{APP}#inbox"), "isLoadingMainFrame": true}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1_000}),
        click(20, 1_500),
        json!({"args": {"data": {"frame": "F1", "navigationId": "N2", "initialURL": format!("{APP}#sent"), "mostRecentURL": format!("{APP}#sent/1")}},
            "cat": "devtools.timeline", "name": "SoftNavigation", "ph": "I", "pid": 20, "tid": 1, "ts": 2_000}),
    ]);
    assert_eq!(
        navigations(&s),
        vec![
            (format!("{APP}#inbox"), false),
            (format!("{APP}#sent/1"), true)
        ]
    );
}

#[test]
fn devtools_panel_saved_enhanced_trace_is_read_without_holding_its_source_maps() {
    // The Performance panel saves `metadata` first; an "enhanced trace" puts
    // every script's source map there, and the script sources in rundown
    // events. Neither is kept: a map larger than the biggest event allowed
    // streams past.
    let big_map = "A".repeat(3 << 20);
    let events = [
        json!({"args": {"frame": "F1", "data": {"documentLoaderURL": format!("{APP}#inbox"), "isLoadingMainFrame": true}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1_000}),
        json!({"args": {"data": {"isolate": "7", "scriptId": 3, "url": format!("{APP}app.js"), "sourceText": "let x = 1;"}},
            "cat": "disabled-by-default-devtools.v8-source-rundown-sources", "name": "ScriptCatchup", "ph": "I", "pid": 20, "tid": 1, "ts": 1_100}),
        click(20, 2_000),
    ];
    let trace = format!(
        "{{\"metadata\": {{\"source\": \"DevTools\", \"startTime\": \"2026-12-04T20:40:00.000Z\", \"hostDOMInteractionsEnabled\": true, \
          \"sourceMaps\": [{{\"url\": \"{APP}app.js\", \"sourceMapUrl\": \"app.js.map\", \"sourceMap\": {{\"version\": 3, \"mappings\": \"{big_map}\"}}}}], \
          \"modifications\": {{\"annotations\": {{\"entryLabels\": [{{\"entry\": \"p-20-1-2000\", \"label\": \"slow\"}}]}}}}, \
          \"cpuThrottling\": 1, \"user-agent\": \"Mozilla/5.0 Chrome/131\"}},\n\"traceEvents\": [\n{}\n]}}\n",
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let limits = Limits {
        max_event_bytes: 1 << 20,
        ..Limits::default()
    };
    let s = read_session(
        trace.as_bytes(),
        "s".into(),
        &limits,
        &mut DiscardScreenshots,
    )
    .unwrap();
    assert_eq!(navigations(&s), vec![(format!("{APP}#inbox"), false)]);
    assert_eq!(inputs(&s), 1);
    assert_eq!(s.started_at.as_deref(), Some("2026-12-04T20:40:00.000Z"));
    assert_eq!(s.user_agent.as_deref(), Some("Mozilla/5.0 Chrome/131"));
}

#[test]
fn chrome_tracing_array_left_unterminated_on_abort_is_read() {
    // chrome://tracing writes `[` and one event per line, each followed by a
    // comma; an aborted recording ends there, without the `]`.
    let events = [
        json!({"args": {"frame": "F1", "data": {"documentLoaderURL": format!("{APP}#inbox"), "isLoadingMainFrame": true}},
            "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 20, "tid": 1, "ts": 1_000}),
        click(20, 2_000),
    ];
    let mut array = String::from("[");
    for e in &events {
        array.push_str(&e.to_string());
        array.push_str(",\n");
    }
    let s = read_session(
        array.as_bytes(),
        "s".into(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
    .unwrap();
    assert_eq!(navigations(&s), vec![(format!("{APP}#inbox"), false)]);
    assert_eq!(inputs(&s), 1);
}
