//! Example synthesis on the committed gmail catalog.

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::model::{ClassifiedAction, ModelProvider, ModelRef};
use tracepipe_processors::synth::{
    synthesize, Message, RejectionReason, ReviewedCall, Synthesis, Synthesizer,
};

fn catalog() -> Catalog {
    Catalog::load_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../catalog"))
        .expect("catalog loads")
}

fn model() -> ModelRef {
    ModelRef {
        provider: ModelProvider::Rules,
        name: "gmail-rules".into(),
        version: "1".into(),
    }
}

fn action(name: &str, parameters: Value) -> ClassifiedAction {
    let parameters: Map<String, Value> = match parameters {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    ClassifiedAction {
        action: name.into(),
        parameters,
        confidence: 0.9,
        low_confidence: false,
        evidence: vec![1, 2],
        start_us: 10,
        end_us: 20,
    }
}

fn with<T>(f: impl FnOnce(&Synthesizer<'_>) -> T) -> T {
    let c = catalog();
    let suite = c.suite("gmail").expect("suite");
    let server = c.mcp_server("gmail").expect("server");
    let map = c.action_tool_map("gmail", "gmail").expect("map");
    let s = Synthesizer::new(suite, map, server).expect("synthesizer");
    f(&s)
}

/// One plausible instance of every gmail action.
fn every_action() -> Vec<ClassifiedAction> {
    vec![
        action(
            "send_email",
            json!({"to": "alice@example.com, bob@example.com", "cc": "", "bcc": "", "subject": "Meeting Tomorrow", "body": "See you at 10."}),
        ),
        action(
            "create_draft",
            json!({"to": "carol@example.com", "subject": "Draft", "body": "Later."}),
        ),
        action("read_email", json!({"message_id": "18c2f0a1b2d3721d"})),
        action(
            "download_attachment",
            json!({"message_id": "18c2f0a1b2cf8acf", "attachment_id": "ANGjdJE78WX"}),
        ),
        action("search_emails", json!({"query": "has:attachment tokyo"})),
        action(
            "modify_email_labels",
            json!({"message_id": "18c2f0a1b2d3721d", "add_label_ids": ["IMPORTANT"], "remove_label_ids": []}),
        ),
        action("delete_email", json!({"message_id": "18c2f0a1b2d3721d"})),
        action("list_labels", json!({})),
        action("create_label", json!({"name": "Receipts"})),
        action("get_or_create_label", json!({"name": "Travel"})),
        action(
            "update_label",
            json!({"label_id": "Label_2", "name": "Invoices"}),
        ),
        action("delete_label", json!({"label_id": "Label_3"})),
        action(
            "batch_modify_emails",
            json!({"message_ids": ["a1", "b2"], "add_label_ids": ["Label_1"]}),
        ),
        action(
            "batch_delete_emails",
            json!({"message_ids": ["a1", "b2", "c3"]}),
        ),
        action(
            "create_filter",
            json!({"criteria": {"from": "deals@shop.example", "query": "sale", "subject": ""}, "filter_action": {"addLabelIds": ["Label_2"], "removeLabelIds": ["INBOX", "UNREAD"]}}),
        ),
        action("delete_filter", json!({"filter_id": "ANe1Bmj"})),
        action("get_filter", json!({"filter_id": "ANe1Bmj"})),
        action(
            "create_filter_from_template",
            json!({"template": "fromSender", "parameters": {"senderEmail": "news@x.example", "archive": true}}),
        ),
    ]
}

#[test]
fn one_send_email_becomes_the_expected_conversation() {
    let out = with(|s| {
        s.synthesize(
            &model(),
            &json!({"temperature": 0}),
            &[action("send_email", json!({"to": " alice@example.com,, bob@example.com ", "cc": "", "subject": "Meeting Tomorrow", "body": "See you."}))],
            None,
        )
    });
    assert!(out.rejections.is_empty(), "{:?}", out.rejections);
    let jsonl = out.messages_jsonl();
    let lines: Vec<&str> = jsonl.lines().collect();
    assert_eq!(lines.len(), 4);
    let system: Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(system["role"], "system");
    let sys = system["content"].as_str().expect("text");
    assert!(sys.starts_with("You are an assistant for Gmail."), "{sys}");
    assert!(
        sys.contains("draft_email") && sys.contains("list_email_labels"),
        "{sys}"
    );
    assert_eq!(
        lines[1],
        r#"{"role":"user","content":"Send an email to alice@example.com, bob@example.com with the subject 'Meeting Tomorrow' and the message: See you."}"#
    );
    assert_eq!(
        lines[2],
        r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"send_email","arguments":"{\"body\":\"See you.\",\"subject\":\"Meeting Tomorrow\",\"to\":[\"alice@example.com\",\"bob@example.com\"]}"}}]}"#
    );
    assert_eq!(
        lines[3],
        r#"{"role":"tool","tool_call_id":"call_1","content":"The recording does not show this call's result."}"#
    );

    let rec = &out.records[0];
    assert_eq!(
        (
            rec.index,
            rec.call_id.as_str(),
            rec.action.as_str(),
            rec.tool.as_str()
        ),
        (0, "call_1", "send_email", "send_email")
    );
    assert_eq!(
        rec.arguments["to"],
        json!(["alice@example.com", "bob@example.com"])
    );
    assert_eq!(
        (
            rec.confidence,
            rec.evidence.as_slice(),
            rec.start_us,
            rec.end_us
        ),
        (0.9, &[1usize, 2][..], 10, 20)
    );
    assert_eq!(out.model, model());
    assert_eq!(out.model_configuration, json!({"temperature": 0}));
}

#[test]
fn every_gmail_action_synthesises_a_valid_call() {
    let actions = every_action();
    let out = with(|s| s.synthesize(&model(), &json!({}), &actions, None));
    assert!(out.rejections.is_empty(), "{:#?}", out.rejections);
    assert_eq!(out.records.len(), actions.len());
    assert_eq!(out.messages.len(), 1 + 3 * actions.len());
    let by_action = |name: &str| out.records.iter().find(|r| r.action == name).expect(name);
    assert_eq!(by_action("create_draft").tool, "draft_email");
    assert_eq!(by_action("list_labels").arguments, json!({}));
    assert_eq!(
        by_action("update_label").arguments,
        json!({"id": "Label_2", "name": "Invoices"})
    );
    assert_eq!(
        by_action("modify_email_labels").arguments,
        json!({"messageId": "18c2f0a1b2d3721d", "addLabelIds": ["IMPORTANT"]})
    );
    assert_eq!(
        by_action("create_filter").arguments,
        json!({"criteria": {"from": "deals@shop.example", "query": "sale"},
               "action": {"addLabelIds": ["Label_2"], "removeLabelIds": ["INBOX", "UNREAD"]}})
    );
    assert_eq!(
        by_action("create_filter").instruction,
        "Create a filter for messages from deals@shop.example containing 'sale', adding the labels Label_2, removing the labels INBOX, UNREAD"
    );
    assert_eq!(
        by_action("modify_email_labels").instruction,
        "Change the labels of the email with ID 18c2f0a1b2d3721d, adding IMPORTANT"
    );
    // Call ids run in order.
    let ids: Vec<&str> = out.records.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids[0], "call_1");
    assert_eq!(ids[17], "call_18");
}

#[test]
fn synthesis_is_byte_deterministic() {
    let actions = every_action();
    let a = with(|s| s.synthesize(&model(), &json!({"temperature": 0.2}), &actions, None));
    // A second catalog load and synthesizer give the same bytes.
    let c = catalog();
    let b = synthesize(
        c.suite("gmail").expect("suite"),
        c.action_tool_map("gmail", "gmail").expect("map"),
        c.mcp_server("gmail").expect("server"),
        &model(),
        &json!({"temperature": 0.2}),
        &actions,
    )
    .expect("synthesis");
    assert_eq!(a.messages_jsonl(), b.messages_jsonl());
    assert_eq!(a.training_line(), b.training_line());
    assert_eq!(a, b);
}

#[test]
fn the_training_line_carries_the_mapped_tools_as_functions() {
    let out = with(|s| s.synthesize(&model(), &json!({}), &every_action()[..1], None));
    let line: Value = serde_json::from_str(&out.training_line()).expect("json");
    assert_eq!(line.as_object().map(|o| o.len()), Some(2));
    assert_eq!(line["messages"].as_array().map(Vec::len), Some(4));
    let tools = line["tools"].as_array().expect("tools");
    assert_eq!(
        tools.len(),
        18,
        "one per mapped tool (list_filters is not mapped)"
    );
    let c = catalog();
    let server = c.mcp_server("gmail").expect("server");
    for t in tools {
        assert_eq!(t["type"], "function");
        let name = t["function"]["name"].as_str().expect("name");
        let tool = server.tool(name).expect("a tool of the server");
        assert_eq!(t["function"]["parameters"], tool.input_schema);
        assert_eq!(
            t["function"]["description"].as_str(),
            tool.description.as_deref()
        );
    }
    assert!(!tools
        .iter()
        .any(|t| t["function"]["name"] == "list_filters"));
}

#[test]
fn a_call_that_breaks_the_schema_is_reported_and_left_out() {
    let actions = vec![
        action("read_email", json!({"message_id": "m1"})),
        // Not one of the server's templates: breaks the `enum`.
        action(
            "create_filter_from_template",
            json!({"template": "fromBoss", "parameters": {"senderEmail": "b@x"}}),
        ),
        // `fromm` is not a criterion: breaks `additionalProperties: false`.
        action(
            "create_filter",
            json!({"criteria": {"fromm": "x@y"}, "filter_action": {"addLabelIds": ["STARRED"]}}),
        ),
        action("delete_email", json!({"message_id": "m1"})),
    ];
    let out = with(|s| s.synthesize(&model(), &json!({}), &actions, None));
    assert_eq!(
        out.records.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 3]
    );
    assert_eq!(out.records[1].call_id, "call_2");
    assert_eq!(out.rejections.len(), 2);
    let r = &out.rejections[0];
    assert_eq!(
        (r.index, r.action.as_str(), r.tool.as_deref()),
        (
            1,
            "create_filter_from_template",
            Some("create_filter_from_template")
        )
    );
    match &r.reason {
        RejectionReason::Schema { violations } => {
            assert_eq!(violations[0].pointer, "/template");
            assert!(violations[0].message.contains("fromBoss"), "{violations:?}");
        }
        other => panic!("{other:?}"),
    }
    let shown = out.rejections[1].to_string();
    assert!(
        shown.contains("#2 `create_filter` → `create_filter`") && shown.contains("/criteria"),
        "{shown}"
    );
    let jsonl = out.messages_jsonl();
    assert!(!jsonl.contains("fromBoss") && !jsonl.contains("fromm"));
}

#[test]
fn unknown_untyped_incomplete_and_unconfident_actions_are_rejected() {
    let actions = vec![
        action("archive_email", json!({"message_id": "m1"})),
        action("read_email", json!({"message_id": "m1", "thread_id": "t"})),
        action("batch_delete_emails", json!({"message_ids": "a1,b2"})),
        action("read_email", json!({"message_id": ""})),
        ClassifiedAction {
            confidence: 0.2,
            low_confidence: true,
            ..action("delete_email", json!({"message_id": "m2"}))
        },
        ClassifiedAction {
            confidence: 0.6,
            low_confidence: true,
            ..action("delete_email", json!({"message_id": "m3"}))
        },
    ];
    let out = with(|s| s.synthesize(&model(), &json!({"min_confidence": 0.5}), &actions, None));
    let reasons: Vec<&RejectionReason> = out.rejections.iter().map(|r| &r.reason).collect();
    assert!(matches!(reasons[0], RejectionReason::UnknownAction));
    assert!(
        matches!(reasons[1], RejectionReason::UnknownParameter { parameter } if parameter == "thread_id")
    );
    assert!(
        matches!(reasons[2], RejectionReason::WrongType { parameter, .. } if parameter == "message_ids")
    );
    assert!(
        matches!(reasons[3], RejectionReason::MissingValue { placeholder } if placeholder == "message_id")
    );
    assert!(matches!(
        reasons[4],
        RejectionReason::BelowConfidence { .. }
    ));
    assert_eq!(out.rejections.len(), 5);
    assert_eq!(out.records.len(), 1);
    assert!(out.records[0].low_confidence);
}

#[test]
fn empty_values_are_left_out_but_a_required_tool_parameter_keeps_a_given_empty_value() {
    let out = with(|s| {
        s.synthesize(
            &model(),
            &json!({}),
            &[
                action("send_email", json!({"to": "a@x.example", "cc": " , ", "bcc": null, "subject": "Hi", "body": ""})),
                action("create_draft", json!({"subject": "Idea", "body": "Later"})),
            ],
            None,
        )
    });
    // send_email requires body: the classifier said it was empty, so it stays.
    assert_eq!(
        out.records[0].arguments,
        json!({"to": ["a@x.example"], "subject": "Hi", "body": ""})
    );
    assert_eq!(
        out.records[0].instruction,
        "Send an email to a@x.example with the subject 'Hi'"
    );
    // draft_email requires `to`, which the action did not give: not invented.
    assert!(
        matches!(&out.rejections[0].reason, RejectionReason::Schema { violations } if violations[0].message.contains("to"))
    );
}

#[test]
fn messages_round_trip_through_serde() {
    let out = with(|s| s.synthesize(&model(), &json!({}), &every_action(), None));
    for line in out.messages_jsonl().lines() {
        let m: Message = serde_json::from_str(line).expect("a message");
        assert_eq!(serde_json::to_string(&m).expect("json"), line);
    }
}

/// The reviewed calls that confirm every call of `synthesis` as it is.
fn confirmed(synthesis: &Synthesis) -> Vec<ReviewedCall> {
    synthesis
        .records
        .iter()
        .map(|r| ReviewedCall {
            action: Some(r.action.clone()),
            tool: r.tool.clone(),
            arguments: r.arguments.clone(),
            confidence: r.confidence,
            low_confidence: r.low_confidence,
            evidence: r.evidence.clone(),
            start_us: r.start_us,
            end_us: r.end_us,
        })
        .collect()
}

#[test]
fn confirming_every_call_gives_back_the_same_conversation() {
    with(|s| {
        let config = json!({});
        let original = s.synthesize(&model(), &config, &every_action(), None);
        assert!(original.rejections.is_empty(), "{:?}", original.rejections);
        let reviewed = s.synthesize_reviewed(&model(), &config, &confirmed(&original), None);
        assert_eq!(reviewed.rejections, Vec::new());
        assert_eq!(reviewed.messages, original.messages);
        assert_eq!(reviewed.records.len(), original.records.len());
        for (a, b) in reviewed.records.iter().zip(&original.records) {
            assert_eq!(
                (&a.action, &a.tool, &a.instruction, &a.arguments),
                (&b.action, &b.tool, &b.instruction, &b.arguments)
            );
        }
    });
}

#[test]
fn reviewed_calls_carry_changes_additions_and_report_what_breaks_the_schema() {
    with(|s| {
        let config = json!({});
        let original = s.synthesize(
            &model(),
            &config,
            &[action(
                "send_email",
                json!({"to": "alice@example.com", "subject": "Hi", "body": "Hello"}),
            )],
            None,
        );
        let mut calls = confirmed(&original);
        calls[0].arguments["to"] = json!(["bob@example.com"]);
        // A missed label listing, with no action named: the action mapped onto
        // the tool stands for it.
        calls.push(ReviewedCall {
            action: None,
            tool: "list_email_labels".into(),
            arguments: json!({}),
            confidence: 1.0,
            low_confidence: false,
            evidence: Vec::new(),
            start_us: 30,
            end_us: 40,
        });
        // A call whose arguments no longer fit the tool.
        calls.push(ReviewedCall {
            arguments: json!({"to": "not a list"}),
            ..calls[0].clone()
        });
        let reviewed = s.synthesize_reviewed(&model(), &config, &calls, None);
        assert_eq!(reviewed.records.len(), 2);
        assert_eq!(
            reviewed.records[0].arguments["to"],
            json!(["bob@example.com"])
        );
        assert!(
            reviewed.records[0].instruction.contains("bob@example.com"),
            "{}",
            reviewed.records[0].instruction
        );
        assert_eq!(reviewed.records[1].action, "list_labels");
        assert_eq!(reviewed.records[1].tool, "list_email_labels");
        assert_eq!(reviewed.rejections.len(), 1);
        assert_eq!(reviewed.rejections[0].index, 2);
        assert!(matches!(
            reviewed.rejections[0].reason,
            RejectionReason::Schema { .. }
        ));
        assert!(s.check_call("send_email", &json!({"to": 3})).is_err());
        assert!(s.action_for_tool("no_such_tool", None).is_none());
    });
}
