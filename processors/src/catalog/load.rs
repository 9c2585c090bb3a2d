//! Assembling a [`Catalog`] from file contents, and the thin directory loader.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{parse_mcp_server, parse_suite, ActionToolMapFile, Catalog, CatalogError};
use crate::results::ToolResults;

/// No catalog file may be larger than this (the Playwright server's is ~60 KiB).
pub const MAX_CATALOG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The contents of a catalog directory, as (path, contents) pairs. Paths are
/// used in messages and to check names: an McpServer file is named
/// `<server>.json`, a suite file sits in a folder named after the suite, and a
/// map file is named `<server>.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSources {
    pub mcp_servers: Vec<(String, String)>,
    pub suites: Vec<SuiteSources>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuiteSources {
    /// `suites/<suite>/suite.json`.
    pub suite: (String, String),
    /// `suites/<suite>/maps/<server>.json`.
    pub maps: Vec<(String, String)>,
    /// `suites/<suite>/results/<server>.json`: how the server's tool results
    /// are built from what the page showed ([`crate::results`]).
    pub results: Vec<(String, String)>,
}

fn stem(path: &str) -> Option<&str> {
    Path::new(path).file_stem().and_then(|s| s.to_str())
}

fn check_named(
    file: &str,
    expected: Option<&str>,
    actual: &str,
    what: &str,
) -> Result<(), CatalogError> {
    match expected {
        Some(e) if e != actual => Err(CatalogError::invalid(
            file,
            "name",
            format!("{what} is named `{actual}` but its path says `{e}`"),
        )),
        _ => Ok(()),
    }
}

impl Catalog {
    /// Parses and cross-checks everything. Pure.
    pub fn from_sources(sources: &CatalogSources) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (file, contents) in &sources.mcp_servers {
            let server = parse_mcp_server(file, contents)?;
            check_named(file, stem(file), &server.name, "the MCP server")?;
            if catalog.mcp_servers.contains_key(&server.name) {
                return Err(CatalogError::Duplicate {
                    file: file.clone(),
                    kind: "MCP server",
                    name: server.name,
                });
            }
            catalog.mcp_servers.insert(server.name.clone(), server);
        }
        for s in &sources.suites {
            let (file, contents) = &s.suite;
            let suite = parse_suite(file, contents)?;
            let dir = Path::new(file)
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str());
            let expected = if stem(file) == Some("suite") {
                dir
            } else {
                None
            };
            check_named(file, expected, &suite.name, "the suite")?;
            if catalog.suites.contains_key(&suite.name) {
                return Err(CatalogError::Duplicate {
                    file: file.clone(),
                    kind: "suite",
                    name: suite.name,
                });
            }
            let mut maps = BTreeMap::new();
            for (mfile, mcontents) in &s.maps {
                let spec: ActionToolMapFile =
                    serde_json::from_str(mcontents).map_err(|source| CatalogError::Json {
                        file: mfile.clone(),
                        source,
                    })?;
                check_named(mfile, stem(mfile), &spec.mcp_server, "the map's MCP server")?;
                let server = catalog.mcp_servers.get(&spec.mcp_server).ok_or_else(|| {
                    CatalogError::unknown(mfile, "MCP server", &spec.mcp_server, " (mcp_server)")
                })?;
                let map = spec.resolve(mfile, &suite, server)?;
                let key = (suite.name.clone(), spec.mcp_server.clone());
                if maps.insert(key, map).is_some() {
                    return Err(CatalogError::Duplicate {
                        file: mfile.clone(),
                        kind: "map onto MCP server",
                        name: spec.mcp_server.clone(),
                    });
                }
            }
            catalog.maps.extend(maps);
            for (rfile, rcontents) in &s.results {
                let server_name = stem(rfile).unwrap_or_default();
                let server = catalog.mcp_servers.get(server_name).ok_or_else(|| {
                    CatalogError::unknown(rfile, "MCP server", server_name, " (the file's name)")
                })?;
                let results = ToolResults::parse(rfile, rcontents, server)?;
                check_named(
                    rfile,
                    Some(&suite.name),
                    &results.suite,
                    "the results' suite",
                )?;
                let key = (suite.name.clone(), server.name.clone());
                if catalog.results.insert(key, results).is_some() {
                    return Err(CatalogError::Duplicate {
                        file: rfile.clone(),
                        kind: "results of MCP server",
                        name: server.name.clone(),
                    });
                }
            }
            catalog.suites.insert(suite.name.clone(), suite);
        }
        Ok(catalog)
    }

    /// Reads `<root>/mcp-servers/*.json`, `<root>/suites/*/suite.json`,
    /// `<root>/suites/*/maps/*.json` and `<root>/suites/*/results/*.json`
    /// (missing folders are empty) and calls
    /// [`Catalog::from_sources`].
    pub fn load_dir(root: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let root = root.as_ref();
        let mut sources = CatalogSources::default();
        for path in json_files(&root.join("mcp-servers"))? {
            sources.mcp_servers.push(read(&path)?);
        }
        for dir in subdirs(&root.join("suites"))? {
            let suite = dir.join("suite.json");
            if !suite.is_file() {
                continue;
            }
            let mut maps = Vec::new();
            for path in json_files(&dir.join("maps"))? {
                maps.push(read(&path)?);
            }
            let mut results = Vec::new();
            for path in json_files(&dir.join("results"))? {
                results.push(read(&path)?);
            }
            sources.suites.push(SuiteSources {
                suite: read(&suite)?,
                maps,
                results,
            });
        }
        Catalog::from_sources(&sources)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io {
        path: path.to_owned(),
        source,
    }
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        out.push(entry.map_err(io(dir))?.path());
    }
    out.sort();
    Ok(out)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    Ok(entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}

fn read(path: &Path) -> Result<(String, String), CatalogError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut contents = String::new();
    file.take(MAX_CATALOG_FILE_BYTES + 1)
        .read_to_string(&mut contents)
        .map_err(io(path))?;
    let name = path.display().to_string();
    if contents.len() as u64 > MAX_CATALOG_FILE_BYTES {
        return Err(CatalogError::TooLarge {
            file: name,
            limit: MAX_CATALOG_FILE_BYTES,
        });
    }
    Ok((name, contents))
}
