//! The learner on small hand-built sessions of a made-up task tracker: what
//! it learns must run in the real classifier and reproduce held-out calls.

use super::*;
use serde_json::json;
use tracepipe_schemas::{Event, SourceFormat, Target};

const BASE: &str = "http://tasks.test/";

fn server() -> McpServer {
    let tools = [
        json!({"name": "create_task", "inputSchema": {"type": "object",
            "properties": {"title": {"type": "string"}, "assignees": {"type": "array", "items": {"type": "string"}}},
            "required": ["title"]}}),
        json!({"name": "delete_task", "inputSchema": {"type": "object",
            "properties": {"taskId": {"type": "string"}}, "required": ["taskId"]}}),
        json!({"name": "archive_task", "inputSchema": {"type": "object",
            "properties": {"taskId": {"type": "string"}}, "required": ["taskId"]}}),
        json!({"name": "get_task", "inputSchema": {"type": "object",
            "properties": {"taskId": {"type": "string"}}, "required": ["taskId"]}}),
        json!({"name": "create_rule", "inputSchema": {"type": "object",
            "properties": {
                "criteria": {"type": "object", "properties": {"from": {"type": "string"}}},
                "action": {"type": "object", "properties": {"removeLabelIds": {"type": "array", "items": {"type": "string"}}}}},
            "required": ["criteria", "action"]}}),
        json!({"name": "set_priority", "inputSchema": {"type": "object",
            "properties": {"taskId": {"type": "string"}, "priority": {"type": "string"}},
            "required": ["taskId", "priority"]}}),
        json!({"name": "set_status", "inputSchema": {"type": "object",
            "properties": {"taskId": {"type": "string"}, "status": {"type": "string"}},
            "required": ["taskId", "status"]}}),
        json!({"name": "tag_tasks", "inputSchema": {"type": "object",
            "properties": {"taskIds": {"type": "array", "items": {"type": "string"}},
                           "priority": {"type": "string"}},
            "required": ["taskIds", "priority"]}}),
    ];
    McpServer::from_tools_list("tasks.json", "tasks", None, None, &tools).expect("valid tools")
}

/// A session built step by step, 100 ms apart.
struct Builder {
    events: Vec<Event>,
    route: String,
}

impl Builder {
    fn new() -> Builder {
        let mut b = Builder {
            events: Vec::new(),
            route: "#tasks".into(),
        };
        b.navigate("#tasks");
        b
    }

    fn push(
        &mut self,
        kind: EventKind,
        label: Option<&str>,
        tag: &str,
        data: &[(&str, &str)],
    ) -> &mut Event {
        let mut e = Event::new(kind, (self.events.len() as i64 + 1) * 100_000);
        e.url = Some(format!("{BASE}{}", self.route));
        if let Some(label) = label {
            e.target = Some(Target {
                tag: Some(tag.into()),
                label: Some(label.into()),
                data: data
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Target::default()
            });
        }
        self.events.push(e);
        self.events.last_mut().expect("just pushed")
    }

    fn navigate(&mut self, route: &str) -> &mut Self {
        self.route = route.into();
        self.push(EventKind::Navigation, None, "", &[]);
        self
    }

    fn click(&mut self, label: &str, data: &[(&str, &str)]) -> &mut Self {
        self.push(EventKind::Click, Some(label), "button", data);
        self
    }

    fn type_into(&mut self, label: &str, value: &str) -> &mut Self {
        self.push(EventKind::Click, Some(label), "input", &[]);
        self.push(EventKind::Change, Some(label), "input", &[])
            .value = Some(value.into());
        self
    }

    fn tick(&mut self, label: &str, data: &[(&str, &str)]) -> &mut Self {
        self.push(EventKind::Click, Some(label), "input", data);
        self.push(EventKind::Change, Some(label), "input", data)
            .value = Some("true".into());
        self
    }

    /// An option of the `<select>` named `label` chosen: the capture records
    /// the option's value.
    fn choose(&mut self, label: &str, value: &str) -> &mut Self {
        self.push(EventKind::Change, Some(label), "select", &[])
            .value = Some(value.into());
        self
    }

    fn enter(&mut self, label: &str) -> &mut Self {
        self.push(EventKind::Key, Some(label), "input", &[]).key = Some("Enter".into());
        self
    }

    fn session(&self, name: &str) -> Session {
        Session {
            session_id: name.into(),
            source: SourceFormat::InputEventsJsonl,
            suite: None,
            started_at: None,
            duration_us: self.events.last().map_or(0, |e| e.t_us),
            user_agent: None,
            source_name: Some(name.into()),
            source_sha256: None,
            pages: Vec::new(),
            events: self.events.clone(),
        }
    }
}

fn demo(name: &str, b: &Builder, calls: Value) -> Demonstration {
    Demonstration {
        name: name.into(),
        session: b.session(name),
        tool_calls: serde_json::from_value(calls).expect("calls"),
    }
}

fn create_by_button(title: &str, assignees: &str) -> Builder {
    let mut b = Builder::new();
    b.click("New task", &[])
        .type_into("Title", title)
        .type_into("Assignees", assignees)
        .click("Save", &[]);
    b
}

fn demonstrations() -> Vec<Demonstration> {
    let mut open_and_delete = Builder::new();
    open_and_delete
        .click("Water the plants", &[("data-task-id", "t-17")])
        .navigate("#tasks/t-17")
        .click("Delete", &[("data-task-id", "t-17")]);
    let mut enter_create = Builder::new();
    enter_create
        .click("New task", &[])
        .type_into("Title", "Call the bank");
    enter_create.enter("Title");
    let mut open_other = Builder::new();
    open_other
        .click("Pay rent", &[("data-task-id", "t-3")])
        .navigate("#tasks/t-3");
    vec![
        demo(
            "create_one",
            &create_by_button("Buy milk", "ana@example.com, bo@example.com"),
            json!([{"name": "create_task", "arguments": {"title": "Buy milk", "assignees": ["ana@example.com", "bo@example.com"]}}]),
        ),
        demo(
            "create_two",
            &create_by_button("Book flights", "cy@example.com"),
            json!([{"name": "create_task", "arguments": {"title": "Book flights", "assignees": ["cy@example.com"]}}]),
        ),
        demo(
            "create_enter",
            &enter_create,
            json!([{"name": "create_task", "arguments": {"title": "Call the bank"}}]),
        ),
        demo(
            "open_and_delete",
            &open_and_delete,
            json!([{"name": "get_task", "arguments": {"taskId": "t-17"}},
                   {"name": "delete_task", "arguments": {"taskId": "t-17"}}]),
        ),
        demo(
            "open_other",
            &open_other,
            json!([{"name": "get_task", "arguments": {"taskId": "t-3"}}]),
        ),
    ]
}

#[test]
fn learned_files_run_in_the_classifier_and_reproduce_unseen_sessions() {
    let server = server();
    let learned = learn("tasks", &server, &demonstrations()).expect("learns");
    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");

    // Held out: other values, and the other way to complete the form.
    let mut unseen = create_by_button("Renew passport", "di@example.com, ed@example.com");
    unseen
        .click("Fix the bike", &[("data-task-id", "t-40")])
        .navigate("#tasks/t-40")
        .click("Delete", &[("data-task-id", "t-40")]);
    let calls = model
        .calls(&server, &unseen.session("unseen"))
        .expect("classifies");
    assert_eq!(
        calls,
        vec![
            (
                "create_task".to_string(),
                json!({"title": "Renew passport", "assignees": ["di@example.com", "ed@example.com"]})
            ),
            ("get_task".to_string(), json!({"taskId": "t-40"})),
            ("delete_task".to_string(), json!({"taskId": "t-40"})),
        ]
    );

    // A form abandoned half-way is no call.
    let mut abandoned = Builder::new();
    abandoned
        .click("New task", &[])
        .type_into("Title", "Never mind");
    assert_eq!(
        model
            .calls(&server, &abandoned.session("abandoned"))
            .expect("classifies"),
        vec![]
    );
}

#[test]
fn the_suite_and_map_follow_the_tool_schemas() {
    let server = server();
    let learned = learn("tasks", &server, &demonstrations()).expect("learns");
    let create = learned
        .suite
        .actions
        .iter()
        .find(|a| a.name == "create_task")
        .expect("create_task action");
    let assignees = create
        .parameters
        .iter()
        .find(|p| p.name == "assignees")
        .expect("param");
    // Typed as one comma-separated field, split on the way into the tool.
    assert_eq!(assignees.param_type, ParameterType::String);
    let mapping = learned
        .map
        .tool_mappings
        .iter()
        .find(|m| m.action == "create_task")
        .expect("mapping");
    let assignees_map = mapping
        .parameters
        .iter()
        .find(|p| p.action_parameter == "assignees")
        .expect("assignees mapped");
    assert_eq!(assignees_map.transform, Some(Transform::SplitComma));
    assert_eq!(
        create.template,
        "Create task with title {title}[, assignees {assignees}]"
    );
    // Only demonstrated tools become actions.
    let mut names: Vec<&str> = learned
        .suite
        .actions
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["create_task", "delete_task", "get_task"]);
    // get_task's id is the route's group, not the clicked row's name.
    let get = learned
        .rules
        .triggers
        .iter()
        .find(|t| t.action == "get_task")
        .expect("trigger");
    assert_eq!(get.on.kind, ["navigation"]);
    assert_eq!(
        learned.rules.routes["tasks_task_id"],
        "^#tasks/(?P<task_id>[^/?#]+)$"
    );
}

#[test]
fn the_report_names_evidence_leave_one_out_and_what_to_record_next() {
    let server = server();
    let learned = learn("tasks", &server, &demonstrations()).expect("learns");
    let report = &learned.report;
    let create = report
        .actions
        .iter()
        .find(|a| a.tool == "create_task")
        .expect("create");
    assert_eq!(
        create.demonstrations,
        ["create_one", "create_two", "create_enter"]
    );
    let title = create
        .arguments
        .iter()
        .find(|a| a.argument == "title")
        .expect("title");
    assert_eq!(title.evidence, "the committed value of the field `Title`");
    assert_eq!((title.explained, title.of), (3, 3));
    assert!(
        create.recognised_by.contains("click `Save`"),
        "{}",
        create.recognised_by
    );
    assert!(
        create.recognised_by.contains("Enter"),
        "{}",
        create.recognised_by
    );
    // The Enter demonstration alone taught Enter; the others alone, Save.
    assert_eq!(
        create.leave_one_out,
        LeaveOneOut {
            reproduced: 2,
            calls: 3
        }
    );
    let get = report
        .actions
        .iter()
        .find(|a| a.tool == "get_task")
        .expect("get");
    assert_eq!(
        get.leave_one_out,
        LeaveOneOut {
            reproduced: 2,
            calls: 2
        }
    );
    let delete = report
        .actions
        .iter()
        .find(|a| a.tool == "delete_task")
        .expect("delete");
    assert_eq!(
        delete.leave_one_out,
        LeaveOneOut {
            reproduced: 0,
            calls: 1
        }
    );
    assert!(delete
        .unexplained
        .iter()
        .any(|u| u.starts_with("shown once")));
    assert!(delete
        .record_next
        .iter()
        .any(|r| r.contains("another demonstration of `delete_task`")));
    let text = report.to_text();
    assert!(
        text.contains("leave-one-out: 2/3 calls reproduced exactly"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&report.to_json()).expect("JSON report");
    assert_eq!(json["actions"].as_array().map(Vec::len), Some(3));
}

#[test]
fn a_value_that_never_appears_is_reported_with_what_to_record() {
    let server = server();
    let mut sel = Builder::new();
    sel.tick("Select", &[("data-task-id", "t-3")])
        .tick("Select", &[("data-task-id", "t-40")])
        .click("Mark urgent", &[]);
    let learned = learn(
        "tasks",
        &server,
        &[demo(
            "tag_urgent",
            &sel,
            json!([{"name": "tag_tasks", "arguments": {"taskIds": ["t-3", "t-40"], "priority": "P1"}}]),
        )],
    )
    .expect("learns");
    let tag = &learned.report.actions[0];
    let ids = tag
        .arguments
        .iter()
        .find(|a| a.argument == "taskIds")
        .expect("taskIds");
    assert_eq!(
        ids.evidence,
        "the selection: data-task-id of the items ticked with `Select`"
    );
    let priority = tag
        .arguments
        .iter()
        .find(|a| a.argument == "priority")
        .expect("priority");
    assert_eq!(priority.evidence, "");
    assert!(
        tag.unexplained
            .iter()
            .any(|u| u.contains("`priority` (\"P1\") never appears in the recording")),
        "{:?}",
        tag.unexplained
    );
    assert!(tag
        .record_next
        .iter()
        .any(|r| r.contains("`priority` is typed")));
    // The selection is learned as the list's selection, and the click uses it.
    let selection = learned.rules.selection.as_ref().expect("selection");
    assert_eq!(selection.toggle.label, ["Select"]);
    let trigger = &learned.rules.triggers[0];
    assert_eq!(trigger.on.label, ["Mark urgent"]);
    assert_eq!(
        trigger.when.as_ref().and_then(|w| w.selection),
        Some("non_empty")
    );
}

#[test]
fn contradictory_labels_are_refused_naming_recording_and_time() {
    let server = server();
    let mut first = Builder::new();
    first.click("Remove", &[("data-task-id", "t-1")]);
    let mut second = Builder::new();
    second.click("Remove", &[("data-task-id", "t-2")]);
    let err = learn(
        "tasks",
        &server,
        &[
            demo(
                "remove_a",
                &first,
                json!([{"name": "delete_task", "arguments": {"taskId": "t-1"}}]),
            ),
            demo(
                "remove_b",
                &second,
                json!([{"name": "archive_task", "arguments": {"taskId": "t-2"}}]),
            ),
        ],
    )
    .expect_err("contradiction");
    let message = err.to_string();
    assert!(matches!(err, LearnError::Contradiction(_)), "{message}");
    assert!(
        message.contains("`delete_task` in remove_a at 200 ms"),
        "{message}"
    );
    assert!(
        message.contains("`archive_task` in remove_b at 200 ms"),
        "{message}"
    );
    assert!(
        message.contains("click `Remove` with data-task-id"),
        "{message}"
    );
}

#[test]
fn calls_of_tools_the_server_lacks_are_refused() {
    let server = server();
    let b = Builder::new();
    let err = learn(
        "tasks",
        &server,
        &[demo(
            "x",
            &b,
            json!([{"name": "send_fax", "arguments": {}}]),
        )],
    )
    .expect_err("unknown tool");
    assert!(err.to_string().contains("x: tool `send_fax`"), "{err}");
}

#[test]
fn names_become_snake_case() {
    assert_eq!(snake("messageId"), "message_id");
    assert_eq!(snake("send-email"), "send_email");
    assert_eq!(snake("list_email_labels"), "list_email_labels");
    assert_eq!(snake("2fa"), "t_2fa");
    assert_eq!(
        common_prefix(&["download attachment a.pdf", "download attachment b.png"]).as_deref(),
        Some("download attachment")
    );
    assert_eq!(common_prefix(&["pay rent", "fix the bike"]), None);
}

/// A two-step form: criteria, "Next", then actions, "Next" again.
fn rule_form(from: &str, archive: bool) -> Builder {
    let mut b = Builder::new();
    b.click("New rule", &[])
        .type_into("From", from)
        .click("Next", &[]);
    if archive {
        b.tick("Archive (skip the Inbox)", &[]);
    }
    b.tick("Mark as read", &[]).click("Next", &[]);
    b
}

#[test]
fn a_two_step_form_completes_on_its_second_step_with_constants_named_by_checkboxes() {
    let server = server();
    let learned = learn(
        "tasks",
        &server,
        &[demo(
            "rule",
            &rule_form("boss@example.com", true),
            json!([{"name": "create_rule", "arguments": {
                "criteria": {"from": "boss@example.com"},
                "action": {"removeLabelIds": ["INBOX", "UNREAD"]}}}]),
        )],
    )
    .expect("learns");
    let flow = &learned.rules.flows[0];
    assert_eq!(flow.outcomes[0].on[0].label, ["Next"]);
    assert_eq!(flow.outcomes[0].on[0].occurrence, Some(2));
    let flags: Vec<(&str, &str)> = flow
        .fields
        .iter()
        .filter_map(|f| {
            f.flag
                .as_ref()
                .map(|g| (f.on.label[0].as_str(), g.value.as_str()))
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("Archive (skip the Inbox)", "INBOX"),
            ("Mark as read", "UNREAD")
        ]
    );
    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");
    let calls = model
        .calls(
            &server,
            &rule_form("hr@example.com", false).session("unseen"),
        )
        .expect("classifies");
    assert_eq!(
        calls,
        vec![(
            "create_rule".to_string(),
            json!({"criteria": {"from": "hr@example.com"}, "action": {"removeLabelIds": ["UNREAD"]}})
        )]
    );
}

/// A task opened at `#<section>/<id>` and its `label` button clicked.
fn on_route(section: &str, id: &str, label: &str) -> Builder {
    let mut b = Builder::new();
    b.navigate(&format!("#{section}/{id}")).click(label, &[]);
    b
}

fn trigger_routes(learned: &Learned) -> Vec<(String, Option<String>)> {
    learned
        .rules
        .triggers
        .iter()
        .filter(|t| t.on.kind == ["click"])
        .map(|t| (t.action.clone(), t.on.route.clone()))
        .collect()
}

#[test]
fn a_route_is_a_condition_only_when_the_demonstrations_need_it_to_tell_actions_apart() {
    let server = server();
    let deletes = [
        demo(
            "delete_a",
            &on_route("tasks", "t-1", "Delete"),
            json!([{"name": "get_task", "arguments": {"taskId": "t-1"}}, {"name": "delete_task", "arguments": {"taskId": "t-1"}}]),
        ),
        demo(
            "delete_b",
            &on_route("tasks", "t-2", "Delete"),
            json!([{"name": "get_task", "arguments": {"taskId": "t-2"}}, {"name": "delete_task", "arguments": {"taskId": "t-2"}}]),
        ),
    ];
    // Only one action is completed by `Delete`: where it was clicked is not
    // a condition (another app of the kind names its routes otherwise), the
    // id is still read from the route.
    let learned = learn("tasks", &server, &deletes).expect("learned");
    assert_eq!(
        trigger_routes(&learned),
        [("delete_task".to_owned(), None)],
        "{}",
        learned.rules_json()
    );
    assert!(learned.rules_json().contains("\"group\": \"task_id\""));

    // `Delete` on an archived task archives it: now the route is what tells
    // the two apart, and each keeps it.
    let mut both = deletes.to_vec();
    both.push(demo(
        "archive_a",
        &on_route("archive", "t-3", "Delete"),
        json!([{"name": "get_task", "arguments": {"taskId": "t-3"}}, {"name": "archive_task", "arguments": {"taskId": "t-3"}}]),
    ));
    both.push(demo(
        "archive_b",
        &on_route("archive", "t-4", "Delete"),
        json!([{"name": "get_task", "arguments": {"taskId": "t-4"}}, {"name": "archive_task", "arguments": {"taskId": "t-4"}}]),
    ));
    let learned = learn("tasks", &server, &both).expect("learned");
    let routes = trigger_routes(&learned);
    assert_eq!(routes.len(), 2, "{}", learned.rules_json());
    assert!(
        routes.iter().all(|(_, r)| r.is_some()),
        "{}",
        learned.rules_json()
    );
    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");
    let calls = model
        .calls(&server, &on_route("archive", "t-9", "Delete").session("x"))
        .expect("classified");
    assert_eq!(
        calls.last(),
        Some(&("archive_task".to_owned(), json!({"taskId": "t-9"})))
    );
}

#[test]
fn forms_begun_by_overlapping_steps_are_one_form() {
    let server = server();
    let mut by_new = Builder::new();
    by_new
        .click("New task", &[])
        .type_into("Title", "Buy milk")
        .click("Save", &[]);
    let mut by_new_again = Builder::new();
    by_new_again
        .click("New task", &[])
        .type_into("Title", "Call Bo")
        .click("Save", &[]);
    let mut by_add = Builder::new();
    by_add
        .click("Add task", &[])
        .type_into("Title", "Pay rent")
        .click("Save", &[]);
    let mut rule = Builder::new();
    rule.click("New task", &[])
        .type_into("From", "ann@example.com")
        .click("Save rule", &[]);
    let mut rule_again = Builder::new();
    rule_again
        .click("New task", &[])
        .type_into("From", "bo@example.com")
        .click("Save rule", &[]);
    let learned = learn(
        "tasks",
        &server,
        &[
            demo("new_a", &by_new, json!([{"name": "create_task", "arguments": {"title": "Buy milk"}}])),
            demo("new_b", &by_new_again, json!([{"name": "create_task", "arguments": {"title": "Call Bo"}}])),
            demo("add", &by_add, json!([{"name": "create_task", "arguments": {"title": "Pay rent"}}])),
            demo("rule_a", &rule, json!([{"name": "create_rule", "arguments": {"criteria": {"from": "ann@example.com"}, "action": {}}}])),
            demo("rule_b", &rule_again, json!([{"name": "create_rule", "arguments": {"criteria": {"from": "bo@example.com"}, "action": {}}}])),
        ],
    )
    .expect("learned");
    let begun_by_new: Vec<&FlowRule> = learned
        .rules
        .flows
        .iter()
        .filter(|f| {
            f.start
                .iter()
                .any(|m| m.label.contains(&"New task".to_owned()))
        })
        .collect();
    assert_eq!(begun_by_new.len(), 1, "{}", learned.rules_json());
    assert_eq!(begun_by_new[0].outcomes.len(), 2);
    assert!(begun_by_new[0].start[0]
        .label
        .contains(&"Add task".to_owned()));
}

/// `#tasks/<id>` opened, `Edit <what>` clicked, `value` chosen in the
/// select `select`, then `Apply`.
fn edit_with_select(id: &str, what: &str, select: &str, value: &str) -> Builder {
    let mut b = Builder::new();
    b.navigate(&format!("#tasks/{id}"))
        .click(&format!("Edit {what}"), &[])
        .choose(select, value)
        .click("Apply", &[]);
    b
}

/// An item's edit form, as in an issue tracker or a calendar: the item is
/// opened (its page's address carries its number, not its list), "Edit" on
/// that page opens the form, and the item's ids are read from the Edit button.
/// Item links share a word ("Task: …") for the click that opens one to be
/// recognised whatever the item.
fn open_and_rename(number: &str, from: &str, to: &str, by_enter: bool) -> Builder {
    let ids = [("data-list", "home"), ("data-task-number", number)];
    let mut b = Builder::new();
    b.click(from, &ids)
        .navigate(&format!("#tasks/{number}"))
        .click("Edit", &ids)
        .navigate(&format!("#tasks/{number}/edit"))
        .type_into("Title", to);
    if by_enter {
        b.enter("Title");
    } else {
        b.click("Save changes", &[]);
    }
    b
}

#[test]
fn a_select_argument_is_its_option_value_or_a_table_of_the_options_demonstrated() {
    let server = server();
    let read = |id: &str| json!({"name": "get_task", "arguments": {"taskId": id}});
    let learned = learn(
        "tasks",
        &server,
        &[
            // The argument is the option's visible label, not its value.
            demo(
                "priority_a",
                &edit_with_select("t-1", "priority", "Priority", "3"),
                json!([read("t-1"), {"name": "set_priority", "arguments": {"taskId": "t-1", "priority": "high"}}]),
            ),
            demo(
                "priority_b",
                &edit_with_select("t-2", "priority", "Priority", "1"),
                json!([read("t-2"), {"name": "set_priority", "arguments": {"taskId": "t-2", "priority": "low"}}]),
            ),
            // The argument is the option's value.
            demo(
                "status_a",
                &edit_with_select("t-3", "status", "Status", "done"),
                json!([read("t-3"), {"name": "set_status", "arguments": {"taskId": "t-3", "status": "done"}}]),
            ),
            demo(
                "status_b",
                &edit_with_select("t-4", "status", "Status", "blocked"),
                json!([read("t-4"), {"name": "set_status", "arguments": {"taskId": "t-4", "status": "blocked"}}]),
            ),
        ],
    )
    .expect("learned");
    let report = learned.report.to_text();
    assert!(
        report.contains("status: the committed value of the field `Status`"),
        "{report}"
    );
    assert!(
        report.contains("priority: the option chosen in `Priority`"),
        "{report}"
    );
    assert!(
        report.contains("record next: a demonstration choosing each other option of `Priority`"),
        "{report}"
    );
    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");
    let last = |b: &Builder| {
        model
            .calls(&server, &b.session("x"))
            .expect("classified")
            .into_iter()
            .filter(|(t, _)| t != "get_task")
            .collect::<Vec<_>>()
    };
    assert_eq!(
        last(&edit_with_select("t-9", "priority", "Priority", "3")),
        [(
            "set_priority".to_owned(),
            json!({"taskId": "t-9", "priority": "high"})
        )]
    );
    assert_eq!(
        last(&edit_with_select("t-9", "priority", "Priority", "1")),
        [(
            "set_priority".to_owned(),
            json!({"taskId": "t-9", "priority": "low"})
        )]
    );
    assert_eq!(
        last(&edit_with_select("t-9", "status", "Status", "open")),
        [(
            "set_status".to_owned(),
            json!({"taskId": "t-9", "status": "open"})
        )]
    );
    // An option never demonstrated stands for nothing known: no call.
    assert_eq!(
        last(&edit_with_select("t-9", "priority", "Priority", "2")),
        []
    );
}

#[test]
fn what_abandons_a_form_is_learned_from_a_demonstration_without_its_call() {
    let server = server();
    let mut cancelled = Builder::new();
    cancelled
        .click("New task", &[])
        .type_into("Title", "Never mind")
        .click("Cancel", &[]);
    let mut demos = vec![
        demo(
            "new_a",
            &create_by_button("Buy milk", "ann"),
            json!([{"name": "create_task", "arguments": {"title": "Buy milk", "assignees": ["ann"]}}]),
        ),
        demo(
            "new_b",
            &create_by_button("Call Bo", "bo"),
            json!([{"name": "create_task", "arguments": {"title": "Call Bo", "assignees": ["bo"]}}]),
        ),
    ];
    // A form left, then a `Save` elsewhere on the page: without knowing
    // what abandons the form, that Save would complete it.
    let mut stray = Builder::new();
    stray
        .click("New task", &[])
        .type_into("Title", "Oops")
        .click("Cancel", &[])
        .click("Save", &[]);
    let before = learn("tasks", &server, &demos).expect("learned");
    let model =
        LearnedModel::load(&before.suite, &before.map, &before.rules, &server).expect("loads");
    assert_eq!(
        model
            .calls(&server, &stray.session("x"))
            .expect("classified")
            .len(),
        1,
        "without the cancelled demonstration the stray Save completes the form"
    );

    demos.push(demo("cancelled", &cancelled, json!([])));
    let learned = learn("tasks", &server, &demos).expect("learned");
    let flow = learned
        .rules
        .flows
        .iter()
        .find(|f| f.name == "create_task")
        .expect("the form");
    assert!(
        flow.outcomes
            .iter()
            .any(|o| o.action.is_none() && o.on[0].label == ["Cancel"]),
        "{}",
        learned.rules_json()
    );
    assert!(
        learned
            .report
            .notes
            .iter()
            .any(|n| n.contains("abandoned by click `Cancel`") && n.contains("cancelled")),
        "{:?}",
        learned.report.notes
    );
    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");
    assert_eq!(
        model
            .calls(&server, &stray.session("x"))
            .expect("classified"),
        []
    );
}

#[test]
fn an_edit_form_begins_on_its_button_and_numbered_routes_take_numbers_only() {
    let tools = [
        json!({"name": "get_task", "inputSchema": {"type": "object",
            "properties": {"list": {"type": "string"}, "number": {"type": "number"}},
            "required": ["list", "number"]}}),
        json!({"name": "rename_task", "inputSchema": {"type": "object",
            "properties": {"list": {"type": "string"}, "number": {"type": "number"},
                           "title": {"type": "string"}},
            "required": ["list", "number", "title"]}}),
    ];
    let server =
        McpServer::from_tools_list("numbered.json", "numbered", None, None, &tools).expect("valid");
    let demos = [
        ("17", "Task: Pay rent", "Pay the rent", false),
        ("3", "Task: Water plants", "Water the plants", true),
    ]
    .map(|(n, from, to, enter)| {
        let number: i64 = n.parse().expect("a number");
        demo(
            &format!("rename_{n}"),
            &open_and_rename(n, from, to, enter),
            json!([{"name": "get_task", "arguments": {"list": "home", "number": number}},
                   {"name": "rename_task", "arguments": {"list": "home", "number": number, "title": to}}]),
        )
    });
    let learned = learn("numbered", &server, &demos).expect("learns");
    let rename = learned
        .rules
        .flows
        .iter()
        .find(|f| f.name == "rename_task")
        .expect("a rename flow");
    assert_eq!(rename.start.len(), 1, "{:?}", rename.start);
    assert_eq!(rename.start[0].label, ["Edit"], "begun by its button");
    assert!(
        learned.rules.routes.values().all(|p| !p.contains("[^/?#]")),
        "numbered routes take digits: {:?}",
        learned.rules.routes
    );

    let model =
        LearnedModel::load(&learned.suite, &learned.map, &learned.rules, &server).expect("loads");
    // Another task renamed; then a page whose address is not a task's number.
    let mut unseen = open_and_rename("40", "Task: Fix bike", "Fix the bike", false);
    unseen.navigate("#tasks/new").click("Cancel", &[]);
    assert_eq!(
        model
            .calls(&server, &unseen.session("unseen"))
            .expect("classifies"),
        vec![
            (
                "get_task".to_string(),
                json!({"list": "home", "number": 40})
            ),
            (
                "rename_task".to_string(),
                json!({"list": "home", "number": 40, "title": "Fix the bike"})
            ),
        ]
    );
}
