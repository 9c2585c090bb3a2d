//! Deterministic ids: UUID v5 in the Tracepipe catalog namespace, of a JSON array
//! naming the entity's path (`["tool", "gmail", "send_email"]`). JSON makes the
//! encoding unambiguous whatever characters the names hold.

use uuid::Uuid;

/// The namespace of every catalog id: v5 of `urn:tracepipe:catalog` in the URL
/// namespace.
pub fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:tracepipe:catalog")
}

fn derive(parts: &[&str]) -> Uuid {
    let name = serde_json::to_string(parts).expect("a list of strings serialises");
    Uuid::new_v5(&namespace(), name.as_bytes())
}

pub fn suite(suite: &str) -> Uuid {
    derive(&["suite", suite])
}

pub fn action(suite: &str, action: &str) -> Uuid {
    derive(&["action", suite, action])
}

pub fn action_parameter(suite: &str, action: &str, parameter: &str) -> Uuid {
    derive(&["action_parameter", suite, action, parameter])
}

pub fn mcp_server(server: &str) -> Uuid {
    derive(&["mcp_server", server])
}

pub fn tool(server: &str, tool: &str) -> Uuid {
    derive(&["tool", server, tool])
}

pub fn tool_parameter(server: &str, tool: &str, parameter: &str) -> Uuid {
    derive(&["tool_parameter", server, tool, parameter])
}

pub fn action_tool_map(suite: &str, server: &str) -> Uuid {
    derive(&["action_tool_map", suite, server])
}

pub fn action_tool_mapping(suite: &str, server: &str, action: &str) -> Uuid {
    derive(&["action_tool_mapping", suite, server, action])
}

pub fn action_tool_parameter_mapping(
    suite: &str,
    server: &str,
    action: &str,
    action_parameter: &str,
    tool_parameter: &str,
) -> Uuid {
    derive(&[
        "action_tool_parameter_mapping",
        suite,
        server,
        action,
        action_parameter,
        tool_parameter,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(suite("gmail"), suite("gmail"));
        assert_ne!(suite("gmail"), mcp_server("gmail"));
        assert_ne!(tool("a/b", "c"), tool("a", "b/c"));
        assert_eq!(suite("gmail").get_version_num(), 5);
    }
}
