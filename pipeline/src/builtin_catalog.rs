//! The catalog compiled into the binary: `catalog/` as it was at build time,
//! so that an installed `tracepipe process --suite gmail …` runs from any
//! directory. A `--catalog DIR` (or `TRACEPIPE_CATALOG`) replaces it whole.
//!
//! Every file the directory loader reads is listed here; a test checks the
//! list against `catalog/`, so a file added there without being added here
//! fails the build's tests rather than going missing from the binary.

use tracepipe_processors::catalog::{CatalogSources, SuiteSources};

/// How the built-in catalog's files are named in messages: a path under this
/// prefix reads like the directory loader's paths and keeps the folder names
/// that the catalog checks names against.
const ROOT: &str = "<built-in catalog>";

struct BuiltinFile {
    /// Relative to `catalog/`.
    path: &'static str,
    contents: &'static str,
}

macro_rules! builtin_file {
    ($path:literal) => {
        BuiltinFile {
            path: $path,
            contents: include_str!(concat!("../../catalog/", $path)),
        }
    };
}

const MCP_SERVERS: &[BuiltinFile] = &[
    builtin_file!("mcp-servers/github.json"),
    builtin_file!("mcp-servers/gmail.json"),
    builtin_file!("mcp-servers/google_calendar.json"),
    builtin_file!("mcp-servers/playwright.json"),
];

struct BuiltinSuite {
    name: &'static str,
    suite: BuiltinFile,
    maps: &'static [BuiltinFile],
    results: &'static [BuiltinFile],
    rules: BuiltinFile,
}

const SUITES: &[BuiltinSuite] = &[BuiltinSuite {
    name: "gmail",
    suite: builtin_file!("suites/gmail/suite.json"),
    maps: &[builtin_file!("suites/gmail/maps/gmail.json")],
    results: &[builtin_file!("suites/gmail/results/gmail.json")],
    rules: builtin_file!("suites/gmail/rules.json"),
}];

fn named(file: &BuiltinFile) -> (String, String) {
    (format!("{ROOT}/{}", file.path), file.contents.to_owned())
}

/// The built-in catalog's files, for [`tracepipe_processors::catalog::Catalog::from_sources`].
pub fn sources() -> CatalogSources {
    CatalogSources {
        mcp_servers: MCP_SERVERS.iter().map(named).collect(),
        suites: SUITES
            .iter()
            .map(|s| SuiteSources {
                suite: named(&s.suite),
                maps: s.maps.iter().map(named).collect(),
                results: s.results.iter().map(named).collect(),
            })
            .collect(),
    }
}

/// A built-in suite's RULES model file: (name for messages, contents).
pub fn rules(suite: &str) -> Option<(String, &'static str)> {
    SUITES
        .iter()
        .find(|s| s.name == suite)
        .map(|s| (format!("{ROOT}/{}", s.rules.path), s.rules.contents))
}

/// Whether `suite` is one of the suites Tracepipe ships: those are never
/// replaced by a learned one.
pub fn is_builtin_suite(suite: &str) -> bool {
    SUITES.iter().any(|s| s.name == suite)
}

/// What a reader of the summary is told the catalog was.
pub const DESCRIPTION: &str = "the built-in catalog";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Every `.json` file under `dir`, by its path relative to `root`.
    fn json_files(root: &Path, dir: &Path, found: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("a catalog folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                json_files(root, &path, found);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path
                    .strip_prefix(root)
                    .expect("under the catalog")
                    .to_string_lossy()
                    .replace('\\', "/");
                let contents = std::fs::read_to_string(&path).expect("a catalog file");
                found.insert(relative, contents);
            }
        }
    }

    #[test]
    fn every_file_of_the_catalog_folder_is_built_in_unchanged() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog");
        let mut on_disk = BTreeMap::new();
        json_files(&root, &root, &mut on_disk);
        let mut built_in = BTreeMap::new();
        for file in MCP_SERVERS
            .iter()
            .chain(SUITES.iter().flat_map(|s| [&s.suite, &s.rules]))
            .chain(SUITES.iter().flat_map(|s| s.maps.iter()))
            .chain(SUITES.iter().flat_map(|s| s.results.iter()))
        {
            built_in.insert(file.path.to_owned(), file.contents.to_owned());
        }
        assert_eq!(
            on_disk.keys().collect::<Vec<_>>(),
            built_in.keys().collect::<Vec<_>>(),
            "catalog/ and pipeline/src/builtin_catalog.rs list different files"
        );
        assert!(on_disk == built_in, "a built-in file differs from catalog/");
    }

    #[test]
    fn the_built_in_catalog_loads_with_its_rules() {
        let catalog = tracepipe_processors::catalog::Catalog::from_sources(&sources())
            .expect("the built-in catalog is valid");
        for suite in SUITES {
            let entity = catalog
                .suite(suite.name)
                .expect("the suite is in the catalog");
            let (name, contents) = rules(suite.name).expect("the suite has rules");
            tracepipe_processors::classify::RulesModel::from_json(
                &name,
                contents,
                entity,
                Default::default(),
            )
            .expect("the built-in rules compile");
            for map in catalog.maps_for_suite(suite.name) {
                let server = catalog
                    .mcp_server_by_id(map.mcp_server_id)
                    .expect("the map's server");
                assert!(
                    catalog.tool_results(suite.name, &server.name).is_some(),
                    "{}: no results description for {}",
                    suite.name,
                    server.name
                );
            }
        }
        assert!(rules("nosuch").is_none());
    }
}
