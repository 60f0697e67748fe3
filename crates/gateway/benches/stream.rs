//! Cost of inspecting a streamed answer: the 21-event OpenAI stream of the load benchmark
//! (`rampart-bench-upstream`) through [`SseRewriter`], as one TCP chunk and event by event.
//! `cargo bench -p rampart-gateway --bench stream`

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_detect::{HashKey, Redactor, Scanner, Strategy};
use rampart_gateway::sse::{SseRewriter, StreamRules};

fn events() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = (0..20)
        .map(|i| format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer \"}},\"finish_reason\":null}}]}}\n\n"
        ).into_bytes())
        .collect();
    all.push(b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_vec());
    all.push(b"data: [DONE]\n\n".to_vec());
    all
}

fn rewriter() -> SseRewriter {
    SseRewriter::new(
        Arc::from(Box::new(rampart_llm::openai::OpenAi) as Box<dyn rampart_llm::Provider>),
        Scanner::builtin(),
        StreamRules::new(
            || Redactor::new(Strategy::Mask, HashKey::new([7; 32])),
            |_| false,
        ),
    )
}

fn bench(c: &mut Criterion) {
    let events = events();
    let whole: Vec<u8> = events.concat();
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("openai_21_events_one_chunk", |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            out.clear();
            let mut r = rewriter();
            r.push(&whole, &mut out);
            r.finish(&mut out);
            out.len()
        })
    });
    g.bench_function("openai_21_events_event_by_event", |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            out.clear();
            let mut r = rewriter();
            for e in &events {
                r.push(e, &mut out);
            }
            r.finish(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
