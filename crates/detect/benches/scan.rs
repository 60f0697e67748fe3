//! Scanner throughput on benign API JSON, PII-dense text and a 10 MB mixed corpus.
//! Run: `cargo bench -p rampart-detect --bench scan`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_detect::{HashKey, Redactor, ScanOptions, Scanner, Strategy, StreamScanner, corpus};

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let data = corpus::data_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shared data not found; set RAMPART_SHARED_DATA");
    vec![
        (
            "benign_prompts",
            corpus::benign_prompts(&data, 10 << 20).unwrap(),
        ),
        ("benign_api_json", corpus::benign_json(&data).unwrap()),
        ("pii_dense_text", corpus::pii_dense(&data).unwrap()),
        ("mixed_10mb", corpus::mixed(&data, 10 << 20).unwrap()),
    ]
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::builtin();
    let opts = ScanOptions::default();
    for (name, input) in inputs() {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.sample_size(10);
        g.bench_function("raw", |b| {
            let mut hits = Vec::new();
            b.iter(|| {
                hits.clear();
                scanner.scan_raw(&input, &mut hits);
                hits.len()
            })
        });
        g.bench_function("layered", |b| {
            b.iter(|| scanner.scan(&input, &opts).unwrap().found.len())
        });
        g.bench_function("stream_redact_4k_chunks", |b| {
            b.iter(|| {
                let mut s =
                    StreamScanner::new(scanner, Redactor::new(Strategy::Mask, HashKey::default()));
                let mut out = Vec::with_capacity(input.len());
                for chunk in input.chunks(4096) {
                    s.feed(chunk, &mut out);
                }
                s.finish(&mut out);
                out.len()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
