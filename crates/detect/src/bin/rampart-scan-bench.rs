//! Prints the scanner's throughput on the shared benchmark inputs as JSON lines, for the
//! side-by-side script in `bench/`. `rampart-scan-bench [--write-inputs DIR] [--profile]`
//! (`--profile` also prints the raw-layer speed and candidate counts per gate to stderr;
//! `--only NAME` measures one input, `--runs N` sets the runs per input, 7 by default).
#![forbid(unsafe_code)]

use std::time::Instant;

use rampart_detect::{ScanOptions, Scanner, corpus};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = corpus::data_dir(&std::env::current_dir().unwrap())
        .expect("shared data not found; set RAMPART_SHARED_DATA");
    let inputs = [
        (
            "benign_prompts",
            corpus::benign_prompts(&data, 10 << 20).unwrap(),
        ),
        ("benign_api_json", corpus::benign_json(&data).unwrap()),
        ("pii_dense_text", corpus::pii_dense(&data).unwrap()),
        ("mixed_10mb", corpus::mixed(&data, 10 << 20).unwrap()),
    ];
    if let Some(i) = args.iter().position(|a| a == "--write-inputs") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, input) in &inputs {
            std::fs::write(dir.join(format!("{name}.txt")), input).unwrap();
        }
        return;
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let only = flag("--only");
    let runs: usize = flag("--runs").map_or(7, |n| n.parse().expect("--runs takes a number"));
    let scanner = Scanner::builtin();
    let opts = ScanOptions::default();
    for (name, input) in &inputs {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let mut times = Vec::new();
        let mut findings = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            findings = scanner.scan(input, &opts).unwrap().found.len();
            times.push(t.elapsed().as_secs_f64());
        }
        if args.iter().any(|a| a == "--profile") {
            let mut hits = Vec::new();
            let t = Instant::now();
            scanner.scan_raw(input, &mut hits);
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "{name}: raw layer {:.1} MB/s, {} hits",
                input.len() as f64 / secs / 1e6,
                hits.len()
            );
            for (group, n, secs) in scanner.candidate_profile(input) {
                eprintln!("  {group}: {n} candidates in {:.1} ms", secs * 1e3);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        println!(
            "{{\"tool\":\"rampart\",\"input\":\"{name}\",\"bytes\":{},\"seconds\":{median:.6},\"mb_per_s\":{:.1},\"findings\":{findings}}}",
            input.len(),
            input.len() as f64 / median / 1e6
        );
    }
}
