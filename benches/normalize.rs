//! Normalisation throughput on a real recorded trace, next to the floor measured
//! on the same bytes in the same run: `serde_json` deserialising the whole trace
//! into `IgnoredAny`, the least any JSON reader must do. Both are reported in
//! MB/s, and their ratio at the end.

use criterion::{criterion_group, Criterion, Throughput};
use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};

/// The largest committed recording, decompressed: real noise, real screenshots.
fn real_trace() -> (String, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/recordings");
    let mut best: Option<(String, Vec<u8>)> = None;
    for entry in std::fs::read_dir(dir).expect("tests/fixtures/recordings exists") {
        let path = entry.expect("readable fixture directory").path();
        if !path.to_string_lossy().ends_with(".trace.json.gz") {
            continue;
        }
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("fixture opens"))
            .read_to_end(&mut bytes)
            .expect("fixture decompresses");
        if best.as_ref().is_none_or(|(_, b)| bytes.len() > b.len()) {
            best = Some((
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            ));
        }
    }
    best.expect("at least one recorded trace fixture")
}

fn normalize(bytes: &[u8]) -> usize {
    read_session(
        bytes,
        "bench".into(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
    .expect("fixture normalises")
    .events
    .len()
}

fn floor(bytes: &[u8]) {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).expect("fixture is JSON");
}

fn bench(c: &mut Criterion) {
    let (name, bytes) = real_trace();
    let mut group = c.benchmark_group(format!("normalize/{name}"));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("floor_serde_ignored_any", |b| {
        b.iter(|| floor(black_box(&bytes)))
    });
    group.bench_function("tracepipe_normalize", |b| {
        b.iter(|| normalize(black_box(&bytes)))
    });
    group.finish();
}

/// Best-of-N MB/s, measured here as well so the ratio is printed in one line.
fn best_mb_per_s(bytes: &[u8], mut f: impl FnMut(&[u8])) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..15 {
        let start = Instant::now();
        f(bytes);
        best = best.min(start.elapsed());
    }
    bytes.len() as f64 / 1e6 / best.as_secs_f64()
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let (name, bytes) = real_trace();
    let floor_rate = best_mb_per_s(&bytes, floor);
    let ours = best_mb_per_s(&bytes, |b| {
        black_box(normalize(b));
    });
    println!(
        "normalize {name} ({:.1} MB): tracepipe {ours:.0} MB/s, floor (serde_json IgnoredAny) {floor_rate:.0} MB/s, ratio {:.0}%",
        bytes.len() as f64 / 1e6,
        100.0 * ours / floor_rate
    );
}
