//! The core crate's modules form layers: no module of `shared/src` reaches
//! (through `crate::` paths) a module that reaches back to it, and the
//! domain modules never touch HTTP types — the operations (`api`) and the
//! pipeline sit above them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module's source without its unit tests and comments.
fn modules() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src()).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || relative.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        modules.entry(top).or_default().push_str(&code);
    }
    modules
}

fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|(name, code)| {
            let used = code
                .split("crate::")
                .skip(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect::<String>()
                })
                .filter(|m| m != name && modules.contains_key(m))
                .collect();
            (name.clone(), used)
        })
        .collect()
}

fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(module) = stack.pop() {
        for next in &graph[&module] {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

/// Asserts that no edge of `graph` lies on a cycle (`from -> to` where `to`
/// reaches `from` again); `what` names the edges in the failure.
fn assert_acyclic(graph: &BTreeMap<String, BTreeSet<String>>, what: &str) {
    let cycles: Vec<String> = graph
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |t| (from, t)))
        .filter(|(from, to)| reaches(graph, to, from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        cycles.is_empty(),
        "{what} inside an import cycle: {cycles:?}"
    );
}

#[test]
fn no_module_of_the_core_crate_is_part_of_an_import_cycle() {
    let graph = imports(&modules());
    assert!(graph.len() > 20, "the modules were not found: {graph:?}");
    assert_acyclic(&graph, "edges");
}

#[test]
fn the_domain_never_touches_http() {
    let modules = modules();
    for domain in [
        "auth",
        "authz",
        "end_users",
        "external_services",
        "identities",
        "identity_providers",
        "idempotency",
        "limits",
        "organizations",
        "parse",
        "sso",
        "store",
    ] {
        let code = &modules[domain];
        assert!(
            !code.contains("lambda_http") && !code.contains("crate::pipeline"),
            "{domain} uses HTTP types"
        );
    }
    let graph = imports(&modules);
    for domain in [
        "end_users",
        "identities",
        "external_services",
        "authz",
        "sso",
    ] {
        for above in ["api", "pipeline", "routes", "app"] {
            assert!(!reaches(&graph, domain, above), "{domain} reaches {above}");
        }
    }
}

#[test]
fn every_file_of_the_core_crate_reads_on_its_own() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines})", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 600 lines: {long:?}");
}

/// The pipeline reads bottom-up: none of its files reaches (through
/// `super::` paths) a file that reaches back, and none but `mod.rs` uses what
/// `mod.rs` itself declares.
#[test]
fn the_pipelines_files_form_no_import_cycle() {
    let dir = src().join("pipeline");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        files.insert(name, code);
    }
    assert!(files.len() > 15, "the pipeline's files were not found");
    let node = |name: &str| {
        if files.contains_key(name) {
            name.to_owned()
        } else {
            "mod".to_owned()
        }
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, code) in &files {
        let mut used = BTreeSet::new();
        for rest in code.split("super::").skip(1) {
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let first: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !first.is_empty() {
                        used.insert(node(&first));
                    }
                }
            } else {
                let first: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                used.insert(node(&first));
            }
        }
        if name != "mod" && code.contains("crate::pipeline::") {
            used.insert("mod".to_owned());
        }
        used.remove(name);
        graph.insert(name.clone(), used);
    }
    assert_acyclic(&graph, "pipeline files");
}

/// The table is reached through the store's calls (`store/`), which name the
/// table, the key and the capacity report once: no other module of the core
/// crate takes the SDK client out of a store.
#[test]
fn only_the_store_module_holds_the_dynamodb_client() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let store_dir = src().join("store");
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(&store_dir))
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(str::trim)
                .collect();
            code.contains("store.client()") || code.contains("store().client()")
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "Store::client() outside store/: {offenders:?}"
    );
}
