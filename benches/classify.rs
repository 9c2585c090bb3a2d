//! Classification throughput in normalised events per second, on one core, over
//! every committed recording, next to the floor measured in the same run on the
//! same events: one pass that only looks at each event's kind and label.

use criterion::{criterion_group, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{Model, RulesModel, RulesOptions};
use tracepipe_schemas::Session;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sessions() -> Vec<Session> {
    let dir = format!("{ROOT}/tests/fixtures/recordings");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/recordings exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json.gz"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let file = std::fs::File::open(p).expect("fixture opens");
            read_session(
                file,
                p.display().to_string(),
                &Limits::default(),
                &mut DiscardScreenshots,
            )
            .expect("fixture normalises")
        })
        .collect()
}

fn model() -> RulesModel {
    let catalog = Catalog::load_dir(format!("{ROOT}/catalog")).expect("catalog loads");
    let suite = catalog.suite("gmail").expect("gmail suite");
    let path = format!("{ROOT}/catalog/suites/gmail/rules.json");
    let rules = std::fs::read_to_string(&path).expect("rules file");
    RulesModel::from_json(&path, &rules, suite, RulesOptions::default()).expect("rules compile")
}

fn classify_all(model: &RulesModel, sessions: &[Session]) -> usize {
    sessions.iter().map(|s| model.classify(s).len()).sum()
}

/// Touches every event's kind and label, as any classifier must.
fn floor(sessions: &[Session]) -> usize {
    sessions
        .iter()
        .flat_map(|s| &s.events)
        .filter(|e| e.label().is_some_and(|l| !l.is_empty()))
        .count()
}

fn bench(c: &mut Criterion) {
    let sessions = sessions();
    let model = model();
    let events: usize = sessions.iter().map(|s| s.events.len()).sum();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("floor_scan_labels", |b| {
        b.iter(|| floor(black_box(&sessions)))
    });
    group.bench_function("rules_gmail", |b| {
        b.iter(|| classify_all(&model, black_box(&sessions)))
    });
    group.finish();
}

fn best_rate(events: usize, mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..50 {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed());
    }
    events as f64 / best.as_secs_f64()
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let sessions = sessions();
    let model = model();
    let events: usize = sessions.iter().map(|s| s.events.len()).sum();
    let rules = best_rate(events, || {
        black_box(classify_all(&model, &sessions));
    });
    let floor_rate = best_rate(events, || {
        black_box(floor(&sessions));
    });
    println!(
        "classify {} sessions, {events} events: rules {:.2} M events/s on one core, floor {:.2} M events/s, ratio {:.0}%",
        sessions.len(),
        rules / 1e6,
        floor_rate / 1e6,
        100.0 * rules / floor_rate
    );
}
