//! What building the Cedar engine costs a cold start, by part
//! (`scripts/bench.sh cedar`): the schema's parse, the built-in policies'
//! parse, their strict validation, and the engine as a function builds it.
//! The first run of each part is a cold process's; the median is of 30 more.

use std::str::FromStr;
use std::time::Instant;

const SCHEMA: &str = include_str!("../../shared/src/authz/schema.cedarschema");
const BUILTIN: &str = include_str!("../../shared/src/authz/builtin.cedar");

fn time<T>(runs: usize, mut part: impl FnMut() -> T) -> (f64, f64) {
    let mut once = || {
        let started = Instant::now();
        std::hint::black_box(part());
        started.elapsed().as_secs_f64() * 1000.0
    };
    let first = once();
    let mut rest: Vec<f64> = (0..runs).map(|_| once()).collect();
    rest.sort_by(f64::total_cmp);
    (first, rest.get(rest.len() / 2).copied().unwrap_or(f64::NAN))
}

/// In a child process (`CEDAR_COLD=<what>`): one cold part, its ms printed.
fn cold_part(what: &str) {
    let started = Instant::now();
    match what {
        "text" => drop(std::hint::black_box(
            cedar_policy::PolicySet::from_str(BUILTIN).unwrap(),
        )),
        "engine" => drop(std::hint::black_box(tether::authz::engine())),
        "names" => {
            for name in [
                "Organization",
                "ApiKey",
                "EndUser",
                "ExternalService",
                "Action",
            ] {
                drop(std::hint::black_box(
                    cedar_policy::EntityTypeName::from_str(name).unwrap(),
                ));
            }
        }
        "authorizer" => drop(std::hint::black_box(cedar_policy::Authorizer::new())),
        json => {
            let text = std::fs::read_to_string(json).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            drop(std::hint::black_box(
                cedar_policy::PolicySet::from_json_value(value).unwrap(),
            ));
        }
    }
    println!("{}", started.elapsed().as_secs_f64() * 1000.0);
}

/// Median of `n` cold processes running one part.
fn cold(what: &str, n: usize) -> f64 {
    let me = std::env::current_exe().unwrap();
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let out = std::process::Command::new(&me)
                .env("CEDAR_COLD", what)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[n / 2]
}

fn main() {
    if let Ok(what) = std::env::var("CEDAR_COLD") {
        return cold_part(&what);
    }
    let runs = 30;
    let json = std::env::temp_dir().join("tether-builtin-est.json");
    let est = cedar_policy::PolicySet::from_str(BUILTIN)
        .unwrap()
        .to_json()
        .unwrap();
    std::fs::write(&json, est.to_string()).unwrap();
    println!(
        "cold processes (median of 9): engine {:.2} ms; built-in policies from text {:.2} ms, \
         from JSON {:.2} ms; five entity type names {:.2} ms; an authorizer {:.2} ms",
        cold("engine", 9),
        cold("text", 9),
        cold(json.to_str().unwrap(), 9),
        cold("names", 9),
        cold("authorizer", 9)
    );
    let engine = time(0, tether::authz::engine).0;
    let schema = time(runs, || {
        cedar_policy::Schema::from_cedarschema_str(SCHEMA).unwrap()
    });
    let policies = time(runs, || cedar_policy::PolicySet::from_str(BUILTIN).unwrap());
    let (parsed, _) = cedar_policy::Schema::from_cedarschema_str(SCHEMA).unwrap();
    let set = cedar_policy::PolicySet::from_str(BUILTIN).unwrap();
    let validate = time(runs, || {
        cedar_policy::Validator::new(parsed.clone())
            .validate(&set, cedar_policy::ValidationMode::Strict)
    });
    println!("{:<34} {:>9} {:>9}", "part", "first ms", "p50 ms");
    println!(
        "{:<34} {:>9.2} {:>9}",
        "the engine, as a function builds it", engine, "-"
    );
    for (name, (first, p50)) in [
        ("schema (cedarschema text)", schema),
        ("built-in policies (Cedar text)", policies),
        ("their strict validation", validate),
    ] {
        println!("{name:<34} {first:>9.2} {p50:>9.2}");
    }
}
