//! `cargo xtask generate [--check]`: writes every file the route table
//! (`tether::routes`) implies — each function's crate, the local router,
//! the SAM template's functions and log groups, `events/`, the OpenAPI
//! document and the Cedar action list — or, with `--check`, writes nothing
//! and fails naming each file that differs from what it would write (`make
//! lint`, so CI, runs it). Adding an endpoint is then its declaration, its
//! handler, its domain code and its tests.

mod cedar;
mod events;
mod functions;
mod router;
mod template;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A file as the route table implies it.
#[derive(Debug)]
pub struct Generated {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// Its whole content.
    pub content: String,
}

/// The workspace root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

/// `text` with the lines between the line holding `begin` and the line
/// holding `end` replaced by `body` (both marker lines kept).
pub fn replace_region(text: &str, begin: &str, end: &str, body: &str) -> Result<String, String> {
    let start = text
        .find(begin)
        .ok_or_else(|| format!("no `{begin}` marker"))?;
    let start = text[start..]
        .find('\n')
        .map_or(text.len(), |n| start + n + 1);
    let stop = text[start..]
        .find(end)
        .map(|n| start + n)
        .ok_or_else(|| format!("no `{end}` marker"))?;
    let stop = text[..stop].rfind('\n').map_or(stop, |n| n + 1);
    Ok(format!("{}{body}{}", &text[..start], &text[stop..]))
}

/// Every generated file, from the route table and the files whose regions
/// it fills.
fn everything(root: &Path) -> Result<Vec<Generated>, String> {
    let read =
        |path: &str| std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"));
    let mut all = functions::crates();
    all.extend(events::files());
    all.push(Generated {
        path: "docs/openapi.json".into(),
        content: format!(
            "{}\n",
            serde_json::to_string_pretty(&tether::openapi::document()).map_err(|e| e.to_string())?
        ),
    });
    // The rendered reference (scripts/api-docs.sh writes the page): the
    // document inside it.
    if let Ok(page) = std::fs::read_to_string(root.join("docs/api.html")) {
        let document = serde_json::to_string(&tether::openapi::document())
            .map_err(|e| e.to_string())?
            .replace("</", "<\\/");
        all.push(Generated {
            path: "docs/api.html".into(),
            content: replace_region(
                &page,
                "<!-- BEGIN generated document -->",
                "<!-- END generated document -->",
                &format!("{document}\n"),
            )?,
        });
    }
    // Files with a generated region, rewritten from what they hold.
    let regions: [(&str, Rewrite); 4] = [
        ("Cargo.toml", router::cargo_toml),
        ("infra/template.yaml", template::template),
        ("shared/src/authz/schema.cedarschema", cedar::schema),
        ("shared/src/authz/builtin.cedar", cedar::builtin),
    ];
    for (path, rewrite) in regions {
        all.push(Generated {
            path: path.into(),
            content: rewrite(&read(path)?)?,
        });
    }
    Ok(all)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate"] => false,
        ["generate", "--check"] => true,
        _ => {
            eprintln!("usage: cargo xtask generate [--check]");
            return ExitCode::from(2);
        }
    };
    let root = root();
    let all = match everything(&root) {
        Ok(all) => all,
        Err(problem) => {
            eprintln!("xtask: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let mut stale = Vec::new();
    for file in &all {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(file.content.as_str()) {
            continue;
        }
        stale.push(file.path.display().to_string());
        if !check {
            if let Some(parent) = path.parent()
                && let Err(e) = std::fs::create_dir_all(parent)
            {
                eprintln!("xtask: {}: {e}", parent.display());
                return ExitCode::FAILURE;
            }
            if let Err(e) = std::fs::write(&path, &file.content) {
                eprintln!("xtask: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let extra = functions::extra_crates(&root);
    if check {
        if stale.is_empty() && extra.is_empty() {
            return ExitCode::SUCCESS;
        }
        for path in &stale {
            eprintln!("stale: {path} (run `cargo xtask generate`)");
        }
        for path in &extra {
            eprintln!("not in the route table: {path}");
        }
        return ExitCode::FAILURE;
    }
    for path in &stale {
        println!("wrote {path}");
    }
    for path in &extra {
        eprintln!("not in the route table (remove it by hand): {path}");
    }
    if extra.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Rewrites a file's generated region from what it holds.
type Rewrite = fn(&str) -> Result<String, String>;
